//! The page shell and the small pieces every page shares: the header with the settings
//! navigation and sign-out, notices, and the hidden CSRF field.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::paths::{
    AI_SETTINGS, API_KEYS, COPY_SCRIPT, INTEGRATIONS, MEMBERS, PROJECTS, SIGN_IN, SIGN_OUT, STYLE, USAGE,
};
use converra_core::Caller;

/// The settings pages, in navigation order: path and label.
const NAV: [(&str, &str); 6] = [
    (INTEGRATIONS, "Integrations"),
    (PROJECTS, "Projects"),
    (AI_SETTINGS, "AI settings"),
    (USAGE, "Usage"),
    (API_KEYS, "API keys"),
    (MEMBERS, "Members"),
];

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="referrer" content="no-referrer";
        title { (title) " · Converra" }
        link rel="stylesheet" href=(STYLE);
    }
}

/// A page outside the settings (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (head(title))
        body {
            header.top { span.brand { "Converra" } }
            main { (body) }
        }
    }
}

/// The settings navigation, `current` marked (none on a page outside it).
fn nav(current: &str) -> Markup {
    html! {
        nav aria-label="Settings" {
            ul {
                @for (path, label) in NAV {
                    li {
                        @if path == current {
                            a href=(path) aria-current="page" { (label) }
                        } @else {
                            a href=(path) { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// An error page: the navigation (whoever reads it, a click on it finds their way: to the
/// page, or to sign-in), what went wrong, and a way back.
pub fn error_page(text: &str) -> Markup {
    html! {
        (head("Something went wrong"))
        body {
            header.top { span.brand { "Converra" } }
            (nav(""))
            main {
                h1 { "Something went wrong" }
                p.notice.error role="alert" { (text) }
                p { a href=(INTEGRATIONS) { "Back to Settings" } " · " a href=(SIGN_IN) { "Sign in" } }
            }
        }
    }
}

/// A settings page for a signed-in member: `current` is the path of the page in the navigation.
pub fn page(title: &str, current: &str, caller: &Caller, csrf: &str, body: Markup) -> Markup {
    html! {
        (head(title))
        body {
            header.top {
                span.brand { "Converra" }
                span.who { (caller.email) " · " (caller.org_name) " · " (caller.role.as_str()) }
                form method="post" action=(SIGN_OUT) {
                    (csrf_field(csrf))
                    button.link type="submit" { "Sign out" }
                }
            }
            (nav(current))
            main { h1 { "Settings → " (title) } (body) }
        }
    }
}

pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// What happened: `ok` for a success, an error otherwise.
pub struct Notice {
    pub ok: bool,
    pub text: String,
}

impl Notice {
    pub fn ok(text: impl Into<String>) -> Option<Self> {
        Some(Self { ok: true, text: text.into() })
    }

    pub fn error(text: impl Into<String>) -> Option<Self> {
        Some(Self { ok: false, text: text.into() })
    }
}

/// The error beside a form's field, which names it in `aria-describedby`.
pub fn field_error(id: &str, error: Option<&str>) -> Markup {
    html! { @if let Some(e) = error { p.field-error id=(id) role="alert" { (e) } } }
}

pub fn notice(n: &Option<Notice>) -> Markup {
    html! {
        @if let Some(n) = n {
            @if n.ok {
                p.notice.ok role="status" { (n.text) }
            } @else {
                p.notice.error role="alert" { (n.text) }
            }
        }
    }
}

/// A secret shown once, with a copy button (a new API key, a sign-in link): `id` names the
/// read-only field. The page that carries it is sent `Cache-Control: no-store`.
pub fn shown_once(title: Markup, text: Markup, id: &str, label: &str, secret: &str) -> Markup {
    html! {
        section.card {
            h2 { (title) }
            p { (text) }
            div.secret-once {
                input id=(id) type="text" readonly value=(secret) aria-label=(label);
                button.secondary type="button" data-copy=(id) { "Copy" }
            }
            script src=(COPY_SCRIPT) {}
        }
    }
}

/// A count with its noun: "1 request", "2 requests".
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A time as people read it: `2026-11-30 09:41 UTC` from RFC 3339.
pub fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// Nothing: for the places a template needs an empty fragment.
pub fn nothing() -> Markup {
    PreEscaped(String::new())
}
