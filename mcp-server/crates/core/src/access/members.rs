//! Members and roles: admins and owners manage members; an admin can neither create nor
//! promote an owner; the last owner can be neither removed nor demoted.

use converra::{CreateMember, Me, MeApiKey, MeMember, Member, Organization, Role, UpdateMember};
use secrecy::SecretString;
use serde_json::json;

use super::Caller;
use crate::{Core, Error, Result, audit, ids};
use converra_store::{MemberChange, MemberRow};

fn to_wire(m: MemberRow) -> Member {
    Member {
        id: m.id,
        email: m.email,
        role: m.role,
        created_at: m.created_at,
        first_signed_in_at: m.first_signed_in_at,
    }
}

/// Why a look-alike email is refused, in words the person typing it understands.
const NOT_ASCII: &str = "email must be written in ASCII, like name@example.com: letters from other alphabets, \
                         accents and invisible characters are refused, as they make look-alikes of another \
                         address (write an international domain in its xn-- form)";
const NOT_AN_ADDRESS: &str = "email must be an address like name@example.com";

/// A member's email, trimmed. ASCII only: a Cyrillic "о" for "o", a zero-width space or a
/// decomposed accent would make a member who reads exactly like another on every page and in
/// the audit log. Then the shape of an address: a local part of letters, digits and
/// `!#$%&'*+-/=?^_`{|}~` between dots, and a domain of at least two labels of letters, digits
/// and inner hyphens (so an internationalized domain is accepted in its `xn--` form).
pub(super) fn validate_email(email: &str) -> Result<String> {
    let email = email.trim();
    if !email.is_ascii() {
        return Err(Error::validation("email", NOT_ASCII));
    }
    let atom = |part: &str, allowed: &dyn Fn(u8) -> bool| !part.is_empty() && part.bytes().all(allowed);
    let local_ok = |local: &str| {
        local.len() <= 64
            && local.split('.').all(|a| atom(a, &|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)))
    };
    let domain_ok = |domain: &str| {
        domain.len() <= 253
            && domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                label.len() <= 63
                    && atom(label, &|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    let valid =
        email.len() <= 254 && email.split_once('@').is_some_and(|(local, domain)| local_ok(local) && domain_ok(domain));
    if valid { Ok(email.to_owned()) } else { Err(Error::validation("email", NOT_AN_ADDRESS)) }
}

/// Whether `caller` may grant `role` (admins manage admins and members, owners everything).
fn may_grant(caller: &Caller, role: Role) -> Result<()> {
    caller.require_admin()?;
    if role == Role::Owner && caller.role != Role::Owner {
        return Err(Error::Forbidden("Only an owner can make someone an owner"));
    }
    Ok(())
}

/// Why the last owner's role picker and *Remove* are shown disabled.
pub const LAST_OWNER: &str = "The last owner can be neither removed nor demoted: make another member owner first";

/// Whether `member` is the last owner among `members` (the store refuses to remove or demote
/// them; faces show why before anyone tries).
pub fn is_last_owner(members: &[Member], member: &Member) -> bool {
    member.role == Role::Owner && members.iter().filter(|m| m.role == Role::Owner).count() == 1
}

impl Core {
    /// The organization's admins and owners, for any member: whom to ask for what only they
    /// may do (a provider key, a connect link, a new member).
    pub async fn workspace_managers(&self, caller: &Caller) -> Result<Vec<Member>> {
        let all = self.store.members(&caller.org_id).await?;
        Ok(all.into_iter().filter(|m| m.role != Role::Member).map(to_wire).collect())
    }

    pub fn me(&self, caller: &Caller) -> Me {
        Me {
            organization: Organization { id: caller.org_id.clone(), name: caller.org_name.clone(), plan: caller.plan },
            member: MeMember { id: caller.member_id.clone(), email: caller.email.clone(), role: caller.role },
            api_key: MeApiKey {
                id: caller.api_key_id.clone(),
                name: caller.api_key_name.clone(),
                environment: caller.environment,
                project_id: caller.project_id.clone(),
            },
        }
    }

    pub async fn list_members(&self, caller: &Caller) -> Result<Vec<Member>> {
        caller.require_admin()?;
        Ok(self.store.members(&caller.org_id).await?.into_iter().map(to_wire).collect())
    }

    pub async fn create_member(&self, caller: &Caller, req: CreateMember) -> Result<Member> {
        self.insert_member(caller, req, false).await
    }

    /// Adds a member and a one-time sign-in link for them (the web face's *Add member*): the
    /// admin hands it over. Only for a member just created, whose role the caller could grant:
    /// a link for an existing member would let an admin act as them. The link is `None` (and
    /// logged) if it could not be written after the member was: they are added either way.
    pub async fn create_member_with_link(
        &self,
        caller: &Caller,
        req: CreateMember,
    ) -> Result<(Member, Option<SecretString>)> {
        let member = self.insert_member(caller, req, true).await?;
        match self.login_link_for(caller.org_id.clone(), member.id.clone()).await {
            Ok(link) => Ok((member, Some(link))),
            Err(e) => {
                tracing::warn!(member_id = %member.id, error = %e, "could not write a sign-in link for a new member");
                Ok((member, None))
            }
        }
    }

    /// One member per email in an organization, whatever its case: `Owner@x.com` beside
    /// `owner@x.com` would look like the same person on every page and in the audit log. The
    /// store's unique index on the lower-cased email decides, so two adds at once cannot both
    /// pass.
    async fn insert_member(&self, caller: &Caller, req: CreateMember, sign_in_link: bool) -> Result<Member> {
        may_grant(caller, req.role)?;
        let email = validate_email(&req.email)?;
        let row = MemberRow {
            id: ids::new_id("mem"),
            org_id: caller.org_id.clone(),
            email,
            role: req.role,
            created_at: ids::now(),
            first_signed_in_at: None,
        };
        let mut detail = json!({"role": req.role.as_str()});
        if sign_in_link {
            detail["sign_in_link"] = true.into();
        }
        let event = audit::event(&caller.org_id, caller.actor(), "member.created", "member", &row.id, detail);
        match self.store.insert_member(row.clone(), event).await {
            Ok(()) => Ok(to_wire(row)),
            Err(e) if e.is_unique_violation() => Err(Error::Conflict("A member with this email already exists".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Why `caller` may not hand `member` a new sign-in link, or `None` when they may: only a
    /// member who has never signed in (whoever holds the link acts as them, and an admin must
    /// not act as a member who has their own keys and history) and whose role the caller could
    /// grant (an admin gets no link for an owner). The web shows the reason beside the member.
    pub fn sign_in_link_refusal(caller: &Caller, member: &Member) -> Option<&'static str> {
        if caller.require_admin().is_err() {
            return Some("Only admins and owners hand out sign-in links");
        }
        if may_grant(caller, member.role).is_err() {
            return Some("Only an owner can hand an owner a sign-in link");
        }
        if member.first_signed_in_at.is_some() {
            return Some(
                "They have signed in before: a link would let you act as them. They sign in with an API key, \
                 or the operator runs `converra admin login-link`",
            );
        }
        None
    }

    /// A new one-time sign-in link for `member_id` (the Members page's *New sign-in link*), for
    /// a member whose first link expired unused; refused by [`Core::sign_in_link_refusal`]'s
    /// rule, and audited (`member.sign_in_link`). The operator's `converra admin login-link`
    /// remains the way for anyone else.
    pub async fn new_sign_in_link_for(&self, caller: &Caller, member_id: &str) -> Result<(Member, SecretString)> {
        caller.require_admin()?;
        let id = ids::shaped("mem", "Member", member_id)?;
        let member = self.store.member(&caller.org_id, id).await?.ok_or(Error::NotFound("Member"))?;
        let member = to_wire(member);
        if let Some(reason) = Self::sign_in_link_refusal(caller, &member) {
            return Err(Error::Forbidden(reason));
        }
        let link = self.login_link_for(caller.org_id.clone(), member.id.clone()).await?;
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "member.sign_in_link",
            "member",
            &member.id,
            json!({"role": member.role.as_str()}),
        );
        self.store.record_audit(event).await?;
        Ok((member, link))
    }

    pub async fn update_member(&self, caller: &Caller, id: &str, req: UpdateMember) -> Result<Member> {
        may_grant(caller, req.role)?;
        let id = ids::shaped("mem", "Member", id)?;
        let target = self.store.member(&caller.org_id, id).await?.ok_or(Error::NotFound("Member"))?;
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "member.role_changed",
            "member",
            id,
            json!({"from": target.role.as_str(), "to": req.role.as_str()}),
        );
        let may_touch_owner = caller.role == Role::Owner;
        match self.store.update_member_role(&caller.org_id, id, req.role, may_touch_owner, event).await? {
            MemberChange::Done => Ok(Member { role: req.role, ..to_wire(target) }),
            MemberChange::NotFound => Err(Error::NotFound("Member")),
            MemberChange::OwnerProtected => Err(Error::Forbidden("Only an owner can change an owner's role")),
            MemberChange::LastOwner => {
                Err(Error::Conflict("The last owner cannot be demoted: make another member owner first".into()))
            }
        }
    }

    pub async fn remove_member(&self, caller: &Caller, id: &str) -> Result<()> {
        caller.require_admin()?;
        let id = ids::shaped("mem", "Member", id)?;
        let target = self.store.member(&caller.org_id, id).await?.ok_or(Error::NotFound("Member"))?;
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "member.removed",
            "member",
            id,
            json!({"role": target.role.as_str()}),
        );
        let may_touch_owner = caller.role == Role::Owner;
        match self.store.delete_member(&caller.org_id, id, may_touch_owner, event).await? {
            MemberChange::Done => Ok(()),
            MemberChange::NotFound => Err(Error::NotFound("Member")),
            MemberChange::OwnerProtected => Err(Error::Forbidden("Only an owner can remove an owner")),
            MemberChange::LastOwner => {
                Err(Error::Conflict("The last owner cannot be removed: make another member owner first".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(email: &str) -> String {
        match validate_email(email) {
            Err(Error::Validation { field, message }) => {
                assert_eq!(field.as_deref(), Some("email"));
                message
            }
            other => panic!("{email:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn only_ascii_addresses_are_members_emails() {
        for ok in [
            "dev@example.com",
            " Ada.Lovelace+ops@Example.CO.uk ",
            "o'brien@xn--bcher-kva.example",
            "a_b-c@sub-1.example.com",
        ] {
            assert_eq!(validate_email(ok).unwrap(), ok.trim());
        }
        // Cyrillic о, Cyrillic а in the domain, a zero-width space, a decomposed and a composed accent.
        for look_alike in [
            "b\u{43e}b@example.com",
            "bob@ex\u{430}mple.com",
            "bob\u{200b}@example.com",
            "jose\u{301}@example.com",
            "jos\u{e9}@example.com",
        ] {
            assert_eq!(refusal(look_alike), NOT_ASCII);
        }
        for bad in [
            "not-an-email",
            "a b@example.com",
            "a@b@example.com",
            "a@example",
            "a..b@example.com",
            ".a@example.com",
            "a@-x.example",
            "a@x..example",
            "@example.com",
            "a\u{7}@example.com",
            "a@exa_mple.com",
        ] {
            assert_eq!(refusal(bad), NOT_AN_ADDRESS, "{bad:?}");
        }
    }
}
