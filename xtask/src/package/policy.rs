//! Filling in the policy templates of `manifest/policies/`: placeholders
//! replaced by values escaped for the file's format.

/// The values a bundle's policies name.
#[derive(Debug, Clone)]
pub struct PolicyValues {
    pub extension_id: String,
    pub firefox_extension_id: String,
    /// Where Chromium-family browsers fetch the update manifest (`updates.xml`).
    pub update_url: String,
    /// Where Firefox fetches the extension.
    pub firefox_install_url: String,
    /// The organisation's Baton server.
    pub server_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// From a template's name: `*.json.in` is JSON, the rest XML.
    pub fn of(template_name: &str) -> Format {
        if template_name.trim_end_matches(".in").ends_with(".json") {
            Format::Json
        } else {
            Format::Xml
        }
    }

    fn escape(self, value: &str) -> String {
        match self {
            Format::Json => {
                let mut out = String::new();
                for c in value.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out
            }
            Format::Xml => value
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&apos;"),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct UnknownPlaceholder(pub String);

/// Replaces every `@NAME@`; an unknown or unclosed placeholder is an error,
/// so a template can never ship half filled in.
pub fn render(template: &str, format: Format, v: &PolicyValues) -> Result<String, UnknownPlaceholder> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('@') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('@') else {
            return Err(UnknownPlaceholder(after.chars().take(30).collect()));
        };
        let name = &after[..end];
        let value = match name {
            "EXTENSION_ID" => &v.extension_id,
            "FIREFOX_EXTENSION_ID" => &v.firefox_extension_id,
            "UPDATE_URL" => &v.update_url,
            "FIREFOX_INSTALL_URL" => &v.firefox_install_url,
            "SERVER_URL" => &v.server_url,
            other => return Err(UnknownPlaceholder(other.to_owned())),
        };
        out.push_str(&format.escape(value));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A Chromium update manifest pointing at the packed extension.
pub fn update_manifest(extension_id: &str, version: &str, crx_url: &str) -> String {
    let x = |s: &str| Format::Xml.escape(s);
    format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n\
         <gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>\n  \
         <app appid='{}'>\n    <updatecheck codebase='{}' version='{}' />\n  </app>\n</gupdate>\n",
        x(extension_id),
        x(crx_url),
        x(version)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn values() -> PolicyValues {
        PolicyValues {
            extension_id: "iclfinohpipjahhnkmeiddmpdphogdem".into(),
            firefox_extension_id: "baton@baton.invalid".into(),
            update_url: "https://baton.example.org/ext/updates.xml?a=1&b=\"2\"".into(),
            firefox_install_url: "https://baton.example.org/ext/baton.xpi".into(),
            server_url: "https://baton.example.org".into(),
        }
    }

    #[test]
    fn escapes_per_format() {
        let json = render("{\"u\": \"@UPDATE_URL@\"}", Format::Json, &values()).unwrap();
        assert_eq!(json, "{\"u\": \"https://baton.example.org/ext/updates.xml?a=1&b=\\\"2\\\"\"}");
        let xml = render("<s>@UPDATE_URL@</s>", Format::Xml, &values()).unwrap();
        assert_eq!(xml, "<s>https://baton.example.org/ext/updates.xml?a=1&amp;b=&quot;2&quot;</s>");
        assert_eq!(render("@NOPE@", Format::Xml, &values()), Err(UnknownPlaceholder("NOPE".into())));
        assert!(render("a@b", Format::Xml, &values()).is_err());
        assert_eq!(Format::of("baton.json.in"), Format::Json);
        assert_eq!(Format::of("baton.admx.in"), Format::Xml);
    }

    /// Every template in manifest/policies renders with nothing left over.
    #[test]
    fn shipped_templates_render() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("manifest/policies");
        let mut seen = 0;
        for sub in [
            "chromium/baton.json.in",
            "firefox/policies.json.in",
            "macos/baton.mobileconfig.in",
            "windows/baton.admx.in",
        ] {
            let text = std::fs::read_to_string(dir.join(sub)).unwrap();
            let out = render(&text, Format::of(sub), &values()).unwrap();
            assert!(out.contains("iclfinohpipjahhnkmeiddmpdphogdem") || out.contains("baton@baton.invalid"), "{sub}");
            assert!(!out.contains("@EXTENSION_ID@"), "{sub}");
            seen += 1;
        }
        assert_eq!(seen, 4);
    }

    #[test]
    fn update_manifest_names_the_crx() {
        let xml = update_manifest("abc", "0.1.0", "https://x/baton.crx?v=1&y");
        assert!(xml.contains("appid='abc'") && xml.contains("codebase='https://x/baton.crx?v=1&amp;y'"));
    }
}
