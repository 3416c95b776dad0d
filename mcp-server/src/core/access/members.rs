//! Members and roles: admins and owners manage members; an admin can neither create nor
//! promote an owner; the last owner can be neither removed nor demoted.

use converra::{CreateMember, Me, MeApiKey, MeMember, Member, Organization, Role, UpdateMember};
use secrecy::SecretString;
use serde_json::json;

use super::Caller;
use crate::core::{Core, Error, Result, audit, ids};
use crate::store::{MemberChange, MemberRow};

fn to_wire(m: MemberRow) -> Member {
    Member { id: m.id, email: m.email, role: m.role, created_at: m.created_at }
}

/// Whether `caller` may grant `role` (admins manage admins and members, owners everything).
fn may_grant(caller: &Caller, role: Role) -> Result<()> {
    caller.require_admin()?;
    if role == Role::Owner && caller.role != Role::Owner {
        return Err(Error::Forbidden("Only an owner can make someone an owner"));
    }
    Ok(())
}

impl Core {
    pub fn me(&self, caller: &Caller) -> Me {
        Me {
            organization: Organization { id: caller.org_id.clone(), name: caller.org_name.clone(), plan: caller.plan },
            member: MeMember { id: caller.member_id.clone(), email: caller.email.clone(), role: caller.role },
            api_key: MeApiKey {
                id: caller.api_key_id.clone(),
                name: caller.api_key_name.clone(),
                environment: caller.environment,
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
    /// `owner@x.com` would look like the same person on every page and in the audit log.
    async fn insert_member(&self, caller: &Caller, req: CreateMember, sign_in_link: bool) -> Result<Member> {
        may_grant(caller, req.role)?;
        let email = super::orgs::validate_email(&req.email)?;
        let taken = Error::Conflict("A member with this email already exists".into());
        if self.store.members(&caller.org_id).await?.iter().any(|m| m.email.eq_ignore_ascii_case(&email)) {
            return Err(taken);
        }
        let row = MemberRow {
            id: ids::new_id("mem"),
            org_id: caller.org_id.clone(),
            email,
            role: req.role,
            created_at: ids::now(),
        };
        let mut detail = json!({"role": req.role.as_str()});
        if sign_in_link {
            detail["sign_in_link"] = true.into();
        }
        let event = audit::event(&caller.org_id, caller.actor(), "member.created", "member", &row.id, detail);
        match self.store.insert_member(row.clone(), event).await {
            Ok(()) => Ok(to_wire(row)),
            Err(e) if e.is_unique_violation() => Err(taken),
            Err(e) => Err(e.into()),
        }
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
