//! Rate limits as a person edits them: a row per limit (what it counts,
//! how much, per which window), up to five, for a key in its dialogs and
//! for the whole account on the Account page. The service checks them.

use super::components::FormErrors;
use crate::keys::limits::{RateLimit, MAX_LIMIT, MAX_RATELIMITS};
use leptos::prelude::*;

/// The windows offered, in seconds, with their names.
const WINDOWS: [(i64, &str); 7] = [
    (1, "second"),
    (10, "10 seconds"),
    (60, "minute"),
    (600, "10 minutes"),
    (3_600, "hour"),
    (21_600, "6 hours"),
    (86_400, "day"),
];

/// One limit as typed.
#[derive(Clone, Copy)]
struct LimitRow {
    /// Tells rows apart while others are added and removed.
    id: usize,
    name: RwSignal<String>,
    limit: RwSignal<String>,
    window_seconds: RwSignal<String>,
}

/// The limits being edited.
#[derive(Clone, Copy)]
pub struct LimitsForm {
    rows: RwSignal<Vec<LimitRow>>,
    next_id: StoredValue<usize>,
}

impl LimitsForm {
    pub fn of(limits: &[RateLimit]) -> Self {
        let rows = limits
            .iter()
            .enumerate()
            .map(|(id, limit)| LimitRow {
                id,
                name: RwSignal::new(limit.name.clone()),
                limit: RwSignal::new(limit.limit.to_string()),
                window_seconds: RwSignal::new(limit.window_seconds.to_string()),
            })
            .collect();
        LimitsForm {
            rows: RwSignal::new(rows),
            next_id: StoredValue::new(limits.len()),
        }
    }

    /// The limits to send. A number that does not parse is sent as 0, so
    /// the service names the limit it belongs to.
    pub fn limits(&self) -> Vec<RateLimit> {
        self.rows
            .get_untracked()
            .iter()
            .map(|row| RateLimit {
                name: row.name.get_untracked().trim().to_owned(),
                limit: row.limit.get_untracked().trim().parse().unwrap_or(0),
                window_seconds: row.window_seconds.get_untracked().parse().unwrap_or(0),
            })
            .collect()
    }

    /// A new row: the first is `requests` per minute, as most limits are.
    fn add(&self) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        let first = self.rows.read_untracked().is_empty();
        self.rows.update(|rows| {
            rows.push(LimitRow {
                id,
                name: RwSignal::new(if first {
                    "requests".into()
                } else {
                    String::new()
                }),
                limit: RwSignal::new(String::new()),
                window_seconds: RwSignal::new("60".into()),
            })
        });
    }

    fn remove(&self, id: usize) {
        self.rows.update(|rows| rows.retain(|row| row.id != id));
    }
}

/// The rows, a button to add one (up to five), and what the service said
/// is wrong with them. `id` makes the controls' ids unique on the page.
#[component]
pub fn RateLimitsFields(
    form: LimitsForm,
    errors: FormErrors,
    id: &'static str,
    #[prop(into)] legend: String,
    #[prop(into)] hint: String,
) -> impl IntoView {
    let error = errors.field("ratelimits");
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let full = move || form.rows.read().len() >= MAX_RATELIMITS;
    let described_by = format!("{hint_id} {error_id}");
    view! {
        <fieldset class="field rate-limits" aria-describedby=described_by>
            <legend>{legend}</legend>
            <p class="hint" id=hint_id>{hint}</p>
            <For
                each=move || form.rows.get()
                key=|row| row.id
                children=move |row| view! { <LimitRowFields form row id /> }
            />
            <button type="button" class="button subtle small" on:click=move |_| form.add() disabled=full>
                "Add rate limit"
            </button>
            <p class="field-error" id=error_id>{move || error.get()}</p>
        </fieldset>
    }
}

#[component]
fn LimitRowFields(form: LimitsForm, row: LimitRow, id: &'static str) -> impl IntoView {
    // Rows after a removed one move up: their number follows.
    let number = move || {
        let rows = form.rows.read();
        rows.iter()
            .position(|other| other.id == row.id)
            .unwrap_or(0)
            + 1
    };
    let prefix = format!("{id}-{}", row.id);
    let (name_id, limit_id, window_id) = (
        format!("{prefix}-name"),
        format!("{prefix}-limit"),
        format!("{prefix}-window"),
    );
    // A window set over the API that the list does not offer stays as it is.
    let current: i64 = row.window_seconds.get_untracked().parse().unwrap_or(60);
    let unlisted = (!WINDOWS.iter().any(|(seconds, _)| *seconds == current)).then(
        || view! { <option value=current.to_string()>{format!("{current} seconds")}</option> },
    );
    view! {
        <fieldset class="rate-limit">
            <legend>{move || format!("Rate limit {}", number())}</legend>
            <div class="rate-limit-fields">
                <label for=limit_id.clone()>"Limit"</label>
                <input
                    id=limit_id
                    type="number"
                    inputmode="numeric"
                    min="1"
                    max=MAX_LIMIT.to_string()
                    required=true
                    bind:value=row.limit
                />
                <label for=window_id.clone()>"Window"</label>
                <select id=window_id bind:value=row.window_seconds>
                    {WINDOWS
                        .iter()
                        .map(|(seconds, name)| view! { <option value=seconds.to_string()>{format!("per {name}")}</option> })
                        .collect_view()}
                    {unlisted}
                </select>
                <label for=name_id.clone()>"Counter"</label>
                <input
                    id=name_id
                    type="text"
                    autocomplete="off"
                    spellcheck="false"
                    placeholder="requests"
                    bind:value=row.name
                />
                <button type="button" class="button subtle small" on:click=move |_| form.remove(row.id)>
                    "Remove"
                    <span class="visually-hidden">{move || format!(" rate limit {}", number())}</span>
                </button>
            </div>
        </fieldset>
    }
}

/// Limits as a list a person reads: `requests: 3 per minute`.
#[component]
pub fn RateLimitList(limits: Vec<RateLimit>, #[prop(into)] empty: String) -> impl IntoView {
    if limits.is_empty() {
        return view! { <p class="muted">{empty}</p> }.into_any();
    }
    view! {
        <ul class="rate-limit-list">
            {limits
                .into_iter()
                .map(|limit| view! { <li><code>{limit.name.clone()}</code>": " {limit.describe()}</li> })
                .collect_view()}
        </ul>
    }
    .into_any()
}
