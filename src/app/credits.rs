//! Credits as a person gives them to a new key: how many, and the refill
//! a plan gives (daily, or monthly on a day of the month). The service
//! checks them.

use super::components::{Field, FormErrors};
use crate::keys::credits::{Credits, Refill, RefillInterval};
use leptos::prelude::*;

/// The credits being typed.
#[derive(Clone, Copy)]
pub struct CreditsForm {
    remaining: RwSignal<String>,
    /// `none`, `daily` or `monthly`.
    refill: RwSignal<String>,
    amount: RwSignal<String>,
    day_of_month: RwSignal<String>,
}

impl CreditsForm {
    pub fn blank() -> Self {
        CreditsForm {
            remaining: RwSignal::new(String::new()),
            refill: RwSignal::new("none".into()),
            amount: RwSignal::new(String::new()),
            day_of_month: RwSignal::new("1".into()),
        }
    }

    /// `None` while the credits field is empty (the key keeps none). A
    /// number that does not parse is sent as -1, so the service says what
    /// is wrong.
    pub fn credits(&self) -> Option<Credits> {
        let remaining = self.remaining.get_untracked();
        if remaining.trim().is_empty() {
            return None;
        }
        let number = |text: String| text.trim().parse::<i64>().unwrap_or(-1);
        let interval = match self.refill.get_untracked().as_str() {
            "daily" => Some(RefillInterval::Daily),
            "monthly" => Some(RefillInterval::Monthly),
            _ => None,
        };
        let refill = interval.map(|interval| Refill {
            amount: number(self.amount.get_untracked()),
            interval,
            day_of_month: (interval == RefillInterval::Monthly).then(|| {
                self.day_of_month
                    .get_untracked()
                    .trim()
                    .parse()
                    .unwrap_or(0)
            }),
        });
        Some(Credits {
            remaining: number(remaining),
            refill,
        })
    }
}

#[component]
pub fn CreditsFields(form: CreditsForm, errors: FormErrors) -> impl IntoView {
    let error = errors.field("credits");
    view! {
        <fieldset class="field credits" aria-describedby="key-credits-hint key-credits-error">
            <legend>"Credits (optional)"</legend>
            <p class="hint" id="key-credits-hint">
                "Verify spends its cost from them and answers USAGE_EXCEEDED when fewer remain. Leave empty for a key without credits."
            </p>
            <Field label="Credits" id="key-credits" error=Signal::derive(|| None::<String>)>
                <input id="key-credits" type="number" inputmode="numeric" min="0" bind:value=form.remaining />
            </Field>
            <Field label="Refill" id="key-refill" error=Signal::derive(|| None::<String>)>
                <select id="key-refill" bind:value=form.refill>
                    <option value="none">"No refill"</option>
                    <option value="daily">"Daily, at midnight UTC"</option>
                    <option value="monthly">"Monthly"</option>
                </select>
            </Field>
            <Show when=move || form.refill.get() != "none">
                <Field label="Refilled to" id="key-refill-amount" error=Signal::derive(|| None::<String>)>
                    <input id="key-refill-amount" type="number" inputmode="numeric" min="1" bind:value=form.amount />
                </Field>
            </Show>
            <Show when=move || form.refill.get() == "monthly">
                <Field label="Day of the month" id="key-refill-day" error=Signal::derive(|| None::<String>)>
                    <input id="key-refill-day" type="number" inputmode="numeric" min="1" max="31" bind:value=form.day_of_month aria-describedby="key-refill-day-hint" />
                    <p class="hint" id="key-refill-day-hint">"1 to 31; a shorter month refills on its last day."</p>
                </Field>
            </Show>
            <p class="field-error" id="key-credits-error">{move || error.get()}</p>
        </fieldset>
    }
}
