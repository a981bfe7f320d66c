//! Who started us. Browsers pass the caller on the command line: Chromium
//! family `chrome-extension://ID/` (plus `--parent-window=N` on Windows),
//! Firefox the manifest path and then the extension id. The host manifest's
//! allow-list is the browser's check; this is ours, in case a manifest was
//! edited or another program starts the binary.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub extension_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    #[error("caller {0:?} is not an allowed Baton extension")]
    Forbidden(String),
    #[error("no caller origin on the command line; baton-host is started by the browser (run `baton-host --help`)")]
    Missing,
}

pub fn identify(args: &[String], allowed_ids: &[String]) -> Result<Caller, CallerError> {
    let first = args.get(1).ok_or(CallerError::Missing)?;
    let id = if let Some(rest) = first.strip_prefix("chrome-extension://") {
        rest.trim_end_matches('/').to_owned()
    } else if first.ends_with(".json") {
        // Firefox: <manifest path> <extension id>
        args.get(2).cloned().ok_or_else(|| CallerError::Forbidden(first.clone()))?
    } else {
        return Err(CallerError::Forbidden(first.clone()));
    };
    if id.is_empty() || !allowed_ids.iter().any(|allowed| allowed == &id) {
        return Err(CallerError::Forbidden(first.clone()));
    }
    Ok(Caller { extension_id: id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("baton-host").chain(a.iter().copied()).map(String::from).collect()
    }

    #[test]
    fn checks_origins() {
        let allowed = vec!["abc".to_owned(), "baton@ff".to_owned()];
        assert_eq!(identify(&args(&["chrome-extension://abc/"]), &allowed).unwrap().extension_id, "abc");
        assert_eq!(
            identify(&args(&["chrome-extension://abc/", "--parent-window=0"]), &allowed).unwrap().extension_id,
            "abc"
        );
        assert_eq!(
            identify(&args(&["/x/org.baton.host.json", "baton@ff"]), &allowed).unwrap().extension_id,
            "baton@ff"
        );
        assert!(matches!(identify(&args(&["chrome-extension://evil/"]), &allowed), Err(CallerError::Forbidden(_))));
        assert!(matches!(identify(&args(&["chrome-extension:///"]), &allowed), Err(CallerError::Forbidden(_))));
        assert!(matches!(identify(&args(&["/x/m.json", "evil@ff"]), &allowed), Err(CallerError::Forbidden(_))));
        assert!(matches!(identify(&args(&["https://abc/"]), &allowed), Err(CallerError::Forbidden(_))));
        assert_eq!(identify(&args(&[]), &allowed), Err(CallerError::Missing));
    }
}
