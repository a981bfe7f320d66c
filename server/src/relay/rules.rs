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
        // The operator issues commands and the visitor's side runs them;
        // apps change state on both sides.
        AuditEvent::Command { .. } | AuditEvent::AppState { .. } => Ok(()),
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
        assert!(
            audit_permitted(Role::Operator, &AuditEvent::Ended { by: Role::Operator }).is_err()
        );
        let push = AuditEvent::Pushed {
            push: PushKind::Url,
        };
        assert!(audit_permitted(Role::Operator, &push).is_ok());
        assert!(audit_permitted(Role::Visitor, &push).is_err());
        let cmd = AuditEvent::Command {
            command: CommandKind::Click,
            ok: true,
        };
        assert!(audit_permitted(Role::Visitor, &cmd).is_ok());
        assert!(audit_permitted(Role::Operator, &cmd).is_ok());
    }
}
