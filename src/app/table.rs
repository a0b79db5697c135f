//! The one way the dashboard shows a table: [`DataTable`]. Its header
//! stays in view while the rows scroll; with no rows it says so instead of
//! showing an empty grid; on a phone each row becomes a card whose cells
//! are labelled with their column's title, so nothing scrolls sideways.

use leptos::prelude::*;

/// What a column holds, which decides how its cells are marked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// Names the row (`<th scope="row">`): a card's title on a phone.
    RowHeader,
    Text,
    /// Right-aligned figures.
    Number,
    /// The row's buttons, under a title only screen readers hear.
    Actions,
}

#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub title: &'static str,
    pub kind: ColumnKind,
}

impl Column {
    pub const fn row_header(title: &'static str) -> Column {
        Column {
            title,
            kind: ColumnKind::RowHeader,
        }
    }

    pub const fn text(title: &'static str) -> Column {
        Column {
            title,
            kind: ColumnKind::Text,
        }
    }

    pub const fn number(title: &'static str) -> Column {
        Column {
            title,
            kind: ColumnKind::Number,
        }
    }

    pub const fn actions() -> Column {
        Column {
            title: "Actions",
            kind: ColumnKind::Actions,
        }
    }
}

/// One row's cells, in column order.
pub struct DataRow {
    cells: Vec<AnyView>,
    /// Shown dimmed (a revoked or expired key).
    inactive: bool,
}

impl DataRow {
    pub fn new(cells: Vec<AnyView>) -> DataRow {
        DataRow {
            cells,
            inactive: false,
        }
    }

    pub fn inactive(mut self, inactive: bool) -> DataRow {
        self.inactive = inactive;
        self
    }
}

/// A table of `rows`, each drawn by `row` into one cell per column.
/// `label` is its caption and names the region the keyboard can reach to
/// scroll it; `empty` is what shows when there are no rows.
#[component]
pub fn DataTable<T, R>(
    label: String,
    /// Extra class for the page's own column widths.
    class: &'static str,
    columns: Vec<Column>,
    rows: Vec<T>,
    row: R,
    #[prop(into)] empty: String,
) -> impl IntoView
where
    T: 'static,
    R: Fn(T) -> DataRow + 'static,
{
    if rows.is_empty() {
        return view! { <p class="table-empty">{empty}</p> }.into_any();
    }
    let head = columns
        .iter()
        .map(|column| match column.kind {
            ColumnKind::Actions => view! {
                <th scope="col"><span class="visually-hidden">{column.title}</span></th>
            }
            .into_any(),
            kind => view! {
                <th scope="col" class:number=kind == ColumnKind::Number>{column.title}</th>
            }
            .into_any(),
        })
        .collect_view();
    let body = rows
        .into_iter()
        .map(|item| {
            let DataRow { cells, inactive } = row(item);
            debug_assert_eq!(cells.len(), columns.len(), "one cell per column");
            let cells = columns
                .iter()
                .zip(cells)
                .map(|(column, cell)| data_cell(*column, cell))
                .collect_view();
            view! { <tr class:inactive=inactive>{cells}</tr> }
        })
        .collect_view();
    let caption = label.clone();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=label>
            <table class=format!("data-table {class}")>
                <caption class="visually-hidden">{caption}</caption>
                <thead><tr>{head}</tr></thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A cell carries its column's title (`data-label`): a phone's card shows it
/// beside the value, since the header row is not shown there.
fn data_cell(column: Column, cell: AnyView) -> AnyView {
    match column.kind {
        ColumnKind::RowHeader => view! { <th scope="row">{cell}</th> }.into_any(),
        ColumnKind::Text => view! { <td data-label=column.title>{cell}</td> }.into_any(),
        ColumnKind::Number => {
            view! { <td class="number" data-label=column.title>{cell}</td> }.into_any()
        }
        ColumnKind::Actions => view! { <td class="row-actions">{cell}</td> }.into_any(),
    }
}
