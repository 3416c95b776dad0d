//! Settings → Members: who is in the organization and with which role. Admins and owners add
//! members (with a one-time sign-in link to hand over), change roles and remove members; the
//! core's rules apply (an admin can neither make nor touch an owner; the last owner stays).
//! Members see who manages the organization, and nothing to change.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Redirect, Response};
use converra::{CreateMember, Member, Role, UpdateMember};
use maud::{Markup, html};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Site;
use super::error::{WebResult, explain};
use super::flash::{self, Flash};
use super::guard::{Empty, Signed, SignedForm};
use super::layout::{self, Notice, csrf_field, nothing, when};
use super::paths::{self, MEMBER_REMOVE, MEMBER_ROLE, MEMBER_SIGN_IN_LINK, MEMBERS};
use converra_core::access::{LAST_OWNER, is_last_owner};
use converra_core::{Core, Error};

/// What a member who cannot manage members reads on the page (above who can).
const MEMBERS_MANAGED_BY_ADMINS: &str = "Members are managed by workspace admins and owners.";

/// The roles `signed` may grant, lowest first (owners only by an owner).
fn grantable(signed: &Signed) -> Vec<Role> {
    let mut roles = vec![Role::Member, Role::Admin];
    if signed.caller.role == Role::Owner {
        roles.push(Role::Owner);
    }
    roles
}

fn role_select(id: &str, label: &str, roles: &[Role], current: Role) -> Markup {
    html! {
        select id=(id) name="role" aria-label=(label) {
            @for r in roles { option value=(r.as_str()) selected[*r == current] { (r.as_str()) } }
        }
    }
}

async fn members_page(core: &Core, signed: &Signed, shown: Markup, notice: &Option<Notice>) -> WebResult<Markup> {
    if signed.caller.require_admin().is_err() {
        let managers = core.workspace_managers(&signed.caller).await?;
        let body = html! {
            (layout::notice(notice))
            p.muted { (MEMBERS_MANAGED_BY_ADMINS) }
            (managers_list(&managers))
        };
        return Ok(layout::page("Members", MEMBERS, &signed.caller, &signed.csrf, body));
    }
    let members = core.list_members(&signed.caller).await?;
    let roles = grantable(signed);
    let body = html! {
        (layout::notice(notice))
        (shown)
        section.card {
            h2 { "Add member" }
            form.stack method="post" action=(MEMBERS) {
                (csrf_field(&signed.csrf))
                label for="member-email" { "Email" }
                input id="member-email" type="email" name="email" required maxlength="254" placeholder="name@example.com";
                label for="member-role" { "Role" }
                (role_select("member-role", "Role", &roles, Role::Member))
                button type="submit" { "Add member" }
            }
        }
        table.stacked {
            thead { tr { th { "Member" } th { "Role" } th.wide { "Added" } th { "" } } }
            tbody { @for m in &members { (member_row(signed, &roles, &members, m)) } }
        }
    };
    Ok(layout::page("Members", MEMBERS, &signed.caller, &signed.csrf, body))
}

/// Who the admins and owners are, for a member who needs one of them.
pub fn managers_list(managers: &[Member]) -> Markup {
    html! {
        section.card #managers {
            h2 { "Admins and owners" }
            ul { @for m in managers { li { (m.email) " " span.muted { "(" (m.role.as_str()) ")" } } } }
        }
    }
}

/// One member: the role, changeable where the caller may grant it, and *Remove*; for the last
/// owner both shown disabled, with the reason.
fn member_row(signed: &Signed, roles: &[Role], members: &[Member], m: &Member) -> Markup {
    let manageable = roles.contains(&m.role);
    let select_id = format!("role-{}", m.id);
    let last_owner = is_last_owner(members, m);
    html! {
        tr {
            td { (m.email) @if m.id == signed.caller.member_id { br; span.muted { "you" } } }
            td {
                @if manageable && last_owner {
                    select id=(select_id) aria-label=(format!("Role of {}", m.email)) disabled aria-describedby=(format!("last-owner-{}", m.id)) {
                        option selected { (m.role.as_str()) }
                    }
                    " "
                    button.secondary type="button" disabled { "Change role" }
                } @else if manageable {
                    form.inline method="post" action=(paths::fill(MEMBER_ROLE, &[&m.id])) {
                        (csrf_field(&signed.csrf))
                        (role_select(&select_id, &format!("Role of {}", m.email), roles, m.role))
                        button.secondary type="submit" { "Change role" }
                    }
                } @else { (m.role.as_str()) }
            }
            td.wide { (when(&m.created_at)) }
            td {
                @if Core::sign_in_link_refusal(&signed.caller, m).is_none() {
                    form.inline method="post" action=(paths::fill(MEMBER_SIGN_IN_LINK, &[&m.id])) {
                        (csrf_field(&signed.csrf))
                        button.secondary type="submit" aria-label=(format!("New sign-in link for {}", m.email)) {
                            "New sign-in link"
                        }
                    }
                    " "
                }
                @if manageable && last_owner {
                    button.danger type="button" disabled { "Remove" }
                    p.muted id=(format!("last-owner-{}", m.id)) { (LAST_OWNER) "." }
                } @else if manageable {
                    a.button.danger href=(paths::fill(MEMBER_REMOVE, &[&m.id])) { "Remove" }
                }
            }
        }
    }
}

pub async fn page(State(core): State<Arc<Core>>, signed: Signed, Flash(notice): Flash) -> WebResult<Response> {
    Ok(members_page(&core, &signed, nothing(), &notice).await?.into_response())
}

/// Back to the page: a GET on an address that only takes the page's forms.
pub async fn to_page() -> Redirect {
    Redirect::to(MEMBERS)
}

#[derive(Deserialize)]
pub struct AddForm {
    email: String,
    role: Role,
}

pub async fn add(State(core): State<Arc<Core>>, f: SignedForm<AddForm>) -> WebResult<Response> {
    let outcome =
        core.create_member_with_link(&f.caller, CreateMember { email: f.form.email, role: f.form.role }).await;
    let signed = Signed::new(f.caller, f.csrf);
    match outcome {
        Ok((member, None)) => {
            let text = format!(
                "Added {} as {}, but no sign-in link could be made just now: run `converra admin login-link` for one.",
                member.email,
                member.role.as_str()
            );
            Ok(members_page(&core, &signed, nothing(), &Notice::error(text)).await?.into_response())
        }
        Ok((member, Some(link))) => {
            let notice = Notice::ok(format!("Added {} as {}.", member.email, member.role.as_str()));
            link_page(&core, &signed, &member, link, &notice).await
        }
        Err(e) => {
            let (status, text) = explain(&e);
            Ok((status, members_page(&core, &signed, nothing(), &Notice::error(text)).await?).into_response())
        }
    }
}

/// The members page with a member's sign-in link shown once: sent with no cache, no
/// back-button copy.
async fn link_page(
    core: &Core,
    signed: &Signed,
    member: &Member,
    link: SecretString,
    notice: &Option<Notice>,
) -> WebResult<Response> {
    let title = html! { "Sign-in link for " (member.email) };
    let text = html! {
        "Give it to them only: it signs them in once, within 10 minutes. Until they have signed in, \
         you can make a new one here; after that they sign in with an API key, or the operator runs "
        code { "converra admin login-link" } "."
    };
    let shown = layout::shown_once(title, text, "sign-in-link", "Sign-in link", link.expose_secret());
    let page = members_page(core, signed, shown, notice).await?;
    Ok(([(CACHE_CONTROL, "no-store")], page).into_response())
}

/// *New sign-in link*: for a member who has never signed in and whose role the admin may grant
/// (the rule is the core's), shown once like the one *Add member* shows.
pub async fn new_link(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    f: SignedForm<Empty>,
) -> WebResult<Response> {
    let outcome = core.new_sign_in_link_for(&f.caller, &id).await;
    let signed = Signed::new(f.caller, f.csrf);
    match outcome {
        Ok((member, link)) => {
            let notice = Notice::ok(format!(
                "A new sign-in link for {}: the earlier one still works until it expires.",
                member.email
            ));
            link_page(&core, &signed, &member, link, &notice).await
        }
        Err(e) => {
            let (status, text) = explain(&e);
            Ok((status, members_page(&core, &signed, nothing(), &Notice::error(text)).await?).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: Role,
}

pub async fn change_role(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(id): Path<String>,
    f: SignedForm<RoleForm>,
) -> WebResult<Response> {
    match core.update_member(&f.caller, &id, UpdateMember { role: f.form.role }).await {
        Ok(m) => Ok(flash::redirect(&site, MEMBERS, Notice::ok(format!("{} is now {}.", m.email, m.role.as_str())))),
        Err(e) => {
            let (status, text) = explain(&e);
            let signed = Signed::new(f.caller, f.csrf);
            Ok((status, members_page(&core, &signed, nothing(), &Notice::error(text)).await?).into_response())
        }
    }
}

/// *Remove*'s confirmation: who, and what stops working.
pub async fn remove_page(State(core): State<Arc<Core>>, Path(id): Path<String>, signed: Signed) -> WebResult<Response> {
    signed.caller.require_admin()?;
    let members = core.list_members(&signed.caller).await?;
    let m = members.iter().find(|m| m.id == id).ok_or(Error::NotFound("Member"))?;
    let yourself = m.id == signed.caller.member_id;
    let body = html! {
        section.card {
            h2 { "Remove " (m.email) "?" }
            p { (m.email) " (" (m.role.as_str()) ") leaves " (signed.caller.org_name) ": their API keys stop working and their "
                "browsers are signed out at once. This cannot be undone; adding them again makes a new member." }
            @if yourself { p.notice.error { "This is you: you will be signed out." } }
            div.actions {
                form.inline method="post" action=(paths::fill(MEMBER_REMOVE, &[&m.id])) {
                    (csrf_field(&signed.csrf)) button.danger type="submit" { "Remove " (m.email) }
                }
                a href=(MEMBERS) { "Cancel" }
            }
        }
    };
    Ok(layout::page("Members", MEMBERS, &signed.caller, &signed.csrf, body).into_response())
}

pub async fn remove(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(id): Path<String>,
    f: SignedForm<Empty>,
) -> WebResult<Response> {
    let email =
        core.list_members(&f.caller).await.ok().and_then(|all| all.into_iter().find(|m| m.id == id)).map(|m| m.email);
    match core.remove_member(&f.caller, &id).await {
        // They removed themselves: this session has just ended with them.
        Ok(()) if id == f.caller.member_id => Ok(Redirect::to(paths::SIGN_IN).into_response()),
        Ok(()) => {
            let who = email.unwrap_or_else(|| "The member".into());
            let text = format!("Removed {who}: their API keys and sessions stop working now.");
            Ok(flash::redirect(&site, MEMBERS, Notice::ok(text)))
        }
        Err(e) => {
            let (status, text) = explain(&e);
            let signed = Signed::new(f.caller, f.csrf);
            Ok((status, members_page(&core, &signed, nothing(), &Notice::error(text)).await?).into_response())
        }
    }
}
