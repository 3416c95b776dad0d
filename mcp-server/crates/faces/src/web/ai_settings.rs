//! Settings → AI settings: whether AI suggestions are on, their tone, and how often provider
//! keys are due for rotation. Owners change them; everyone else reads them.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use converra::{Tone, UpdateAiSettings};
use maud::{Markup, html};
use serde::Deserialize;

use super::Site;
use super::error::{WebResult, explain};
use super::flash::{self, Flash};
use super::guard::{Signed, SignedForm};
use super::layout::{self, Notice, csrf_field};
use super::paths::AI_SETTINGS;
use converra_core::Core;

fn ai_page(signed: &Signed, settings: &converra::AiSettings, notice: &Option<Notice>) -> Markup {
    let owner = signed.caller.require_owner().is_ok();
    let tone = settings.tone.unwrap_or(Tone::Professional);
    let body = html! {
        (layout::notice(notice))
        @if owner {
            form.stack method="post" action=(AI_SETTINGS) {
                (csrf_field(&signed.csrf))
                label.check { input type="checkbox" name="enabled" value="1" checked[settings.enabled]; "AI suggestions enabled" }
                label for="tone" { "Tone" }
                select id="tone" name="tone" {
                    @for t in [Tone::Professional, Tone::Friendly, Tone::Casual] {
                        option value=(t.as_str()) selected[t == tone] { (t.as_str()) }
                    }
                }
                label for="key_rotation_days" { "Rotate provider keys every (days)" }
                input id="key_rotation_days" name="key_rotation_days" type="number" min="1" max="3650" required
                    value=(settings.key_rotation_days);
                button type="submit" { "Save" }
            }
        } @else {
            p { "AI suggestions are " strong { @if settings.enabled { "enabled" } @else { "disabled" } } ", tone " strong { (tone.as_str()) } "." }
            p { "Provider keys are due for rotation after " strong { (settings.key_rotation_days) } " days." }
            p.muted { "Only workspace Owners can configure AI settings." }
        }
    };
    layout::page("AI settings", AI_SETTINGS, &signed.caller, &signed.csrf, body)
}

pub async fn page(State(core): State<Arc<Core>>, signed: Signed, Flash(notice): Flash) -> WebResult<Response> {
    let settings = core.ai_settings(&signed.caller).await?;
    Ok(ai_page(&signed, &settings, &notice).into_response())
}

#[derive(Deserialize)]
pub struct AiForm {
    enabled: Option<String>,
    tone: Tone,
    /// Absent from an older form: the period stays as it is.
    key_rotation_days: Option<u32>,
}

pub async fn update(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    f: SignedForm<AiForm>,
) -> WebResult<Response> {
    let req = UpdateAiSettings {
        enabled: Some(f.form.enabled.is_some()),
        tone: Some(f.form.tone),
        key_rotation_days: f.form.key_rotation_days,
    };
    let outcome = core.update_ai_settings(&f.caller, req).await;
    let signed = Signed::new(f.caller, f.csrf);
    match outcome {
        Ok(_) => Ok(flash::redirect(&site, AI_SETTINGS, Notice::ok("AI settings saved."))),
        Err(e) => {
            let (status, text) = explain(&e);
            let settings = core.ai_settings(&signed.caller).await?;
            Ok((status, ai_page(&signed, &settings, &Notice::error(text))).into_response())
        }
    }
}
