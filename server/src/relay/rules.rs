//! Which side may append which audit entry. The session's state is checked
//! with the write, in `db::cobrowse::client_audit`.

use baton_shared::cobrowse::{AuditEvent, Role};

/// `Err(why)` if `role` may not append `event`.
pub fn audit_permitted(role: Role, event: &AuditEvent) -> Result<(), &'static str> {
    match event {
        AuditEvent::Started
        | AuditEvent::OperatorJoined { .. }
        | AuditEvent::Ended { .. }
        | AuditEvent::Expired
        | AuditEvent::ConsentExpired
        | AuditEvent::Abandoned { .. }
        | AuditEvent::RecordingLimitReached { .. } => Err("the server writes this entry itself"),
        // Consent and control are the visitor's to give.
        AuditEvent::Consent { .. }
        | AuditEvent::RecordingConsent { .. }
        | AuditEvent::Granted { .. }
        | AuditEvent::Revoked { .. } => match role {
            Role::Visitor => Ok(()),
            Role::Operator => Err("only the visitor may record consent and grants"),
        },
        AuditEvent::Pushed { .. } => match role {
            Role::Operator => Ok(()),
            Role::Visitor => Err("only the operator pushes"),
        },
        // A command's outcome is known where it runs: the visitor's page.
        AuditEvent::Command { .. } => match role {
            Role::Visitor => Ok(()),
            Role::Operator => Err("only the visitor's side records what a command did"),
        },
        // Apps change state on both sides (the console holds and pulls, the
        // page applies).
        AuditEvent::AppState { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::cobrowse::{CommandKind, PushKind};

    #[test]
    fn consent_is_the_visitors_and_server_entries_are_the_servers() {
        let consent = AuditEvent::Consent { approved: true };
        assert!(audit_permitted(Role::Visitor, &consent).is_ok());
        assert!(audit_permitted(Role::Operator, &consent).is_err());
        assert!(audit_permitted(Role::Visitor, &AuditEvent::Started).is_err());
        assert!(audit_permitted(Role::Operator, &AuditEvent::Ended { by: Role::Operator }).is_err());
        let push = AuditEvent::Pushed { push: PushKind::Url };
        assert!(audit_permitted(Role::Operator, &push).is_ok());
        assert!(audit_permitted(Role::Visitor, &push).is_err());
        let cmd = AuditEvent::Command { command: CommandKind::Click, ok: true };
        assert!(audit_permitted(Role::Visitor, &cmd).is_ok());
        assert!(audit_permitted(Role::Operator, &cmd).is_err(), "an operator cannot claim a command's outcome");
        let held = AuditEvent::AppState { app_id: "a1".into(), state: baton_shared::cobrowse::AppState::Held };
        assert!(audit_permitted(Role::Visitor, &held).is_ok() && audit_permitted(Role::Operator, &held).is_ok());
    }
}
