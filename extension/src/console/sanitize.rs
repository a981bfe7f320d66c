//! What of the visitor's page may exist in the mirror. The mirror frame is
//! sandboxed without scripts (the first wall) inside an extension page whose
//! CSP allows only the extension's own scripts (the third); this is the
//! second wall, decided here in plain Rust and applied by the mirror:
//!
//! - Elements that run, load or navigate — `script`, `noscript`, `base`,
//!   `meta`, `link` other than stylesheets, SVG animation elements (which can
//!   rewrite `href`), `template`'s cousins `portal`/`fencedframe` — become
//!   inert: no mirror node, their subtree ignored.
//! - Embedded browsing contexts (`iframe`, `frame`, `object`, `embed`,
//!   `applet`) become a same-size placeholder box — except a same-origin
//!   `iframe` whose document was captured ([`plan_frame`]): it becomes an
//!   empty `<iframe sandbox="allow-same-origin">` of the mirror's own, with
//!   no `src` or `srcdoc`, whose document the mirror builds node by node
//!   through this same sanitiser. Only [`FRAME_ATTRS`] survive on it.
//! - Attributes: every `on*`, `srcdoc`, `action`, `formaction`, `target`,
//!   `ping`, `http-equiv`, `autofocus`, `contenteditable` and `is` are
//!   dropped; `href` of links moves to `data-baton-href`; URL attributes
//!   keep only allowed URLs (see [`super::url`]); `style` and any value with
//!   `url(` go through [`super::css`]; password fields keep no value.
//! - Forms cannot submit: no `action`/`method`, and the frame's sandbox has
//!   no `allow-forms`.

use super::css::{sanitize_css, sanitize_media};
use super::url::{safe_srcset, safe_url, Base, UrlUse};

/// Namespace of a mirror element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    Html,
    Svg,
    MathMl,
}

impl Ns {
    pub fn uri(self) -> &'static str {
        match self {
            Ns::Html => "http://www.w3.org/1999/xhtml",
            Ns::Svg => "http://www.w3.org/2000/svg",
            Ns::MathMl => "http://www.w3.org/1998/Math/MathML",
        }
    }

    /// The namespace of a child named `tag` under a parent in `self`
    /// (whose tag is `parent_tag`).
    pub fn child(self, parent_tag: &str, tag: &str) -> Ns {
        let lower = tag.to_ascii_lowercase();
        match self {
            Ns::Html if lower == "svg" => Ns::Svg,
            Ns::Html if lower == "math" => Ns::MathMl,
            Ns::Html => Ns::Html,
            Ns::Svg if parent_tag.eq_ignore_ascii_case("foreignobject") => Ns::Html,
            Ns::MathMl if parent_tag.eq_ignore_ascii_case("annotation-xml") => Ns::Html,
            ns => ns,
        }
    }
}

/// What an element becomes in the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementPlan {
    /// Rendered with these (sanitised) attributes.
    Keep { tag: String, attrs: Vec<(String, String)> },
    /// A grey box standing in for an embedded frame or plugin.
    Placeholder { label: String, attrs: Vec<(String, String)> },
    /// Not rendered at all; its subtree is ignored.
    Inert,
    /// A same-origin iframe shown by the mirror: an `<iframe>` with
    /// [`FRAME_SANDBOX`] and only these attributes (see [`plan_frame`]).
    Frame { attrs: Vec<(String, String)> },
}

/// The sandbox of every frame the mirror creates: never scripts, forms,
/// popups or top navigation.
pub const FRAME_SANDBOX: &str = "allow-same-origin";

/// The only attributes a mirror frame keeps from the page's iframe: its
/// size, the names its styles select on, and a sanitised inline style.
pub const FRAME_ATTRS: &[&str] = &["width", "height", "class", "id", "style", "title"];

/// The plan for a captured same-origin `iframe` whose document the mirror
/// builds itself (the node carries `f`). Anything else that may embed stays
/// with [`plan_element`].
pub fn plan_frame(attrs: &[(String, String)], base: &Base) -> ElementPlan {
    ElementPlan::Frame { attrs: attrs.iter().filter_map(|(n, v)| frame_attr(n, v, base)).collect() }
}

/// One attribute of a mirror frame: `None` drops it.
pub fn frame_attr(name: &str, value: &str, base: &Base) -> Option<(String, String)> {
    let lname = name.to_ascii_lowercase();
    if !FRAME_ATTRS.contains(&lname.as_str()) {
        return None;
    }
    if (lname == "width" || lname == "height")
        && !value.trim().chars().all(|c| c.is_ascii_digit() || c == '%' || c == '.')
    {
        return None;
    }
    sanitize_attr(Ns::Html, "iframe", &lname, value, base)
}

/// Style of a mirror frame standing for a `<frame>`: it fills its cell of
/// the frameset's grid.
pub const FRAME_IN_FRAMESET_STYLE: &str = "display:block;width:100%;height:100%;border:0";

/// Rows or columns a frameset lays out; more are left to the last one.
const MAX_FRAMESET_TRACKS: usize = 64;

/// The plan for a `<frameset>`: a `div` laid out as a grid of the
/// frameset's rows and columns, whose frames the mirror shows as it shows
/// iframes. `top`: the page's own frameset, which fills the window (a
/// nested one fills its cell).
pub fn plan_frameset(attrs: &[(String, String)], top: bool) -> ElementPlan {
    let tracks = |name| attr(attrs, name).map_or_else(|| "1fr".to_owned(), |v| frameset_tracks(&v));
    let size = if top { "width:100vw;height:100vh" } else { "min-width:0;min-height:0" };
    let style =
        format!("display:grid;{size};grid-template-rows:{};grid-template-columns:{}", tracks("rows"), tracks("cols"));
    ElementPlan::Keep {
        tag: "div".into(),
        attrs: vec![("style".into(), style), ("data-baton-frameset".into(), String::new())],
    }
}

/// A frameset's `rows` or `cols` (`200, *, 2*, 25%`) as grid tracks
/// (`200px 1fr 2fr 25%`); a track that is none of those is `1fr`.
fn frameset_tracks(value: &str) -> String {
    let track = |t: &str| {
        let t = t.trim();
        let (number, unit) = match (t.strip_suffix('*'), t.strip_suffix('%')) {
            (Some(n), _) => (n.trim(), "fr"),
            (_, Some(n)) => (n.trim(), "%"),
            _ => (t, "px"),
        };
        let n = if number.is_empty() && unit == "fr" { Some(1.0) } else { number.parse::<f64>().ok() };
        match n.filter(|n| n.is_finite() && (0.0..=1e6).contains(n)) {
            Some(n) => format!("{n}{unit}"),
            None => "1fr".to_owned(),
        }
    };
    value.split(',').take(MAX_FRAMESET_TRACKS).map(track).collect::<Vec<_>>().join(" ")
}

const INERT: &[&str] = &[
    "script",
    "noscript",
    "base",
    "meta",
    "portal",
    "fencedframe",
    "set",
    "animate",
    "animatemotion",
    "animatetransform",
    "discard",
    "handler",
    "listener",
    "param",
    "xml-stylesheet",
];

const EMBEDS: &[&str] = &["iframe", "frame", "frameset", "object", "embed", "applet"];

/// Attributes dropped on every element (besides every `on*`).
const DROPPED_ATTRS: &[&str] = &[
    "srcdoc",
    "action",
    "formaction",
    "target",
    "formtarget",
    "ping",
    "http-equiv",
    "autofocus",
    "contenteditable",
    "is",
    "nonce",
    "integrity",
    "method",
    "formmethod",
    "enctype",
    "formenctype",
    "download",
    "autoplay",
    "popovertarget",
    "popovertargetaction",
    "manifest",
    "codebase",
    "archive",
    "classid",
    "data",
    "dynsrc",
    "lowsrc",
    "attributename",
    "xmlns",
    "xmlns:xlink",
    "xml:base",
    "xlink:actuate",
    "xlink:show",
    "command",
    "commandfor",
    "interestfor",
    "attributionsrc",
    "browsingtopics",
    "sharedstoragewritable",
    // The mirror's own: where the visitor's pointer and focus are.
    "data-baton-hover",
    "data-baton-focus",
    "data-baton-focus-within",
];

fn is_event_handler(name: &str) -> bool {
    name.len() > 2 && name[..2].eq_ignore_ascii_case("on")
}

/// The plan for an element named `tag` (as captured) with `attrs`, in a
/// page at `base`.
pub fn plan_element(ns: Ns, tag: &str, attrs: &[(String, String)], base: &Base) -> ElementPlan {
    let lower = tag.to_ascii_lowercase();
    if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')) {
        return ElementPlan::Inert;
    }
    if ns == Ns::Html && lower == "meta" {
        return color_scheme_meta(attrs, base);
    }
    // `createElementNS` reads `p:name` as prefix + local name: `x:script` is
    // an SVG script. The checks below judge the whole name, so no prefixes.
    if INERT.contains(&lower.as_str()) || lower.contains(':') {
        return ElementPlan::Inert;
    }
    if ns == Ns::Html && EMBEDS.contains(&lower.as_str()) {
        let size: Vec<(String, String)> = attrs
            .iter()
            .filter(|(n, _)| matches!(n.to_ascii_lowercase().as_str(), "width" | "height" | "class" | "id"))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .filter(|(n, v)| !(n == "width" || n == "height") || v.chars().all(|c| c.is_ascii_digit() || c == '%'))
            .collect();
        return ElementPlan::Placeholder { label: format!("{lower} (not shown)"), attrs: size };
    }
    if ns == Ns::Html && lower == "link" {
        let rel = attr(attrs, "rel").unwrap_or_default().to_ascii_lowercase();
        if !rel.split_ascii_whitespace().any(|r| r == "stylesheet") {
            return ElementPlan::Inert;
        }
    }
    let tag = if ns == Ns::Html { lower.clone() } else { tag.to_owned() };
    ElementPlan::Keep { attrs: sanitize_attrs(ns, &lower, attrs, base), tag }
}

/// A `<meta>` is kept only as the page's `color-scheme` (which form
/// controls, scrollbars and `light-dark()` follow), with the scheme the
/// visitor's browser picks written in and nothing but scheme words.
fn color_scheme_meta(attrs: &[(String, String)], base: &Base) -> ElementPlan {
    if !attr(attrs, "name").is_some_and(|n| n.trim().eq_ignore_ascii_case("color-scheme")) {
        return ElementPlan::Inert;
    }
    let content = color_scheme_words(base, &attr(attrs, "content").unwrap_or_default());
    ElementPlan::Keep {
        tag: "meta".to_owned(),
        attrs: vec![("name".to_owned(), "color-scheme".to_owned()), ("content".to_owned(), content)],
    }
}

fn color_scheme_words(base: &Base, content: &str) -> String {
    base.prefers().color_scheme(content).unwrap_or_else(|| {
        let words = content.split_ascii_whitespace().map(str::to_ascii_lowercase);
        words.filter(|w| matches!(w.as_str(), "light" | "dark" | "only" | "normal")).collect::<Vec<_>>().join(" ")
    })
}

pub fn attr(attrs: &[(String, String)], name: &str) -> Option<String> {
    attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

/// Whether an input of this element is a password field (never shows a value).
pub fn is_password(tag: &str, attrs: &[(String, String)]) -> bool {
    tag.eq_ignore_ascii_case("input") && attr(attrs, "type").is_some_and(|t| t.trim().eq_ignore_ascii_case("password"))
}

/// Whether an input of this element is a file input (takes no value).
pub fn is_file_input(tag: &str, attrs: &[(String, String)]) -> bool {
    tag.eq_ignore_ascii_case("input") && attr(attrs, "type").is_some_and(|t| t.trim().eq_ignore_ascii_case("file"))
}

/// Every attribute of an element, sanitised.
pub fn sanitize_attrs(ns: Ns, lower_tag: &str, attrs: &[(String, String)], base: &Base) -> Vec<(String, String)> {
    let password = is_password(lower_tag, attrs);
    let mut out = Vec::with_capacity(attrs.len());
    for (name, value) in attrs {
        if let Some(kept) = sanitize_attr(ns, lower_tag, name, value, base) {
            if password && kept.0 == "value" {
                continue;
            }
            out.push(kept);
        }
    }
    out
}

/// One attribute: `None` drops it, otherwise the name and value to set.
pub fn sanitize_attr(ns: Ns, lower_tag: &str, name: &str, value: &str, base: &Base) -> Option<(String, String)> {
    let mut lname = name.to_ascii_lowercase();
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        || !name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    {
        return None;
    }
    if is_event_handler(&lname) || DROPPED_ATTRS.contains(&lname.as_str()) || lname.starts_with("xmlns") {
        return None;
    }
    if lname == "xlink:href" {
        lname = "href".into();
    }
    // SVG keeps attribute case (viewBox); HTML is case-insensitive.
    let out_name = if ns == Ns::Html || lname == "href" { lname.clone() } else { name.to_owned() };
    let kept = |v: String| Some((out_name.clone(), v));
    // A kept `<meta>` says the page's color scheme, and only that.
    if ns == Ns::Html && lower_tag == "meta" {
        return match lname.as_str() {
            "content" => kept(color_scheme_words(base, value)),
            "name" => kept("color-scheme".to_owned()),
            _ => None,
        };
    }
    match lname.as_str() {
        "style" => return kept(sanitize_css(base, value)),
        "media" => return kept(sanitize_media(base, value)),
        "srcset" | "imagesrcset" => return safe_srcset(base, value).and_then(kept),
        "poster" | "background" => return safe_url(base, value, UrlUse::Image).and_then(kept),
        "src" => {
            let data_image = value.trim_start().to_ascii_lowercase().starts_with("data:image/");
            let use_ = match lower_tag {
                "img" | "image" | "input" => UrlUse::Image,
                "source" if data_image => UrlUse::Image,
                _ => UrlUse::Resource,
            };
            return safe_url(base, value, use_).and_then(kept);
        }
        "href" => {
            return match (ns, lower_tag) {
                (Ns::Html, "a" | "area") => {
                    safe_url(base, value, UrlUse::Link).map(|u| ("data-baton-href".to_owned(), u))
                }
                (Ns::Html, "link") => safe_url(base, value, UrlUse::Resource).and_then(kept),
                // SVG: fragment references within the mirror; only `image`
                // and `feImage` load theirs as images, the rest (`use`,
                // gradients, `textPath`) as documents, never from `data:`.
                (Ns::Svg, "a") => safe_url(base, value, UrlUse::Link).map(|u| ("data-baton-href".to_owned(), u)),
                (Ns::Svg, _) => {
                    let v = value.trim();
                    if v.starts_with('#') && !v.contains(['(', ':']) {
                        kept(v.to_owned())
                    } else if matches!(lower_tag, "image" | "feimage") {
                        safe_url(base, value, UrlUse::Image).and_then(kept)
                    } else {
                        safe_url(base, value, UrlUse::Resource).and_then(kept)
                    }
                }
                _ => None,
            };
        }
        // A kept `<link>` is a stylesheet and stays one (mutations too).
        "rel" if ns == Ns::Html && lower_tag == "link" => {
            let sheet = value.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("stylesheet"));
            return sheet.then(|| (out_name.clone(), "stylesheet".to_owned()));
        }
        "cite" | "longdesc" | "itemtype" | "itemid" => return safe_url(base, value, UrlUse::Link).and_then(kept),
        // The mirror shows what the page shows in its top layer, and
        // nothing done in the mirror may take it down: no light dismiss of
        // a popover, no closing of a dialog by Escape or a click outside.
        "popover" if ns == Ns::Html => return kept("manual".to_owned()),
        "closedby" if ns == Ns::Html => return kept("none".to_owned()),
        _ => {}
    }
    // Any other attribute that could reach a URL through CSS (`fill="url(#g)"`).
    if value.to_ascii_lowercase().contains("url(") || value.contains('\\') && ns == Ns::Svg {
        return kept(sanitize_css(base, value));
    }
    if value.to_ascii_lowercase().contains("javascript:") && ns != Ns::Html {
        return None;
    }
    kept(value.to_owned())
}

/// The inline style of a masked element: a grey box of the captured size.
pub fn masked_style(lower_tag: &str, (w, h): (u32, u32)) -> String {
    let inline = matches!(
        lower_tag,
        "span"
            | "a"
            | "b"
            | "i"
            | "em"
            | "strong"
            | "small"
            | "code"
            | "label"
            | "abbr"
            | "cite"
            | "q"
            | "s"
            | "u"
            | "mark"
            | "time"
            | "var"
            | "kbd"
            | "samp"
            | "sub"
            | "sup"
            | "bdi"
            | "bdo"
            | "data"
            | "font"
    );
    format!(
        "{}width:{w}px!important;height:{h}px!important;min-width:0!important;min-height:0!important;\
         box-sizing:border-box!important;background:#c4c8cc!important;background-image:none!important;\
         color:transparent!important;border-radius:3px!important;overflow:hidden!important;",
        if inline { "display:inline-block!important;" } else { "" }
    )
}

/// The inline style of an embed placeholder.
pub const PLACEHOLDER_STYLE: &str = "display:inline-flex;align-items:center;justify-content:center;\
    min-width:60px;min-height:30px;box-sizing:border-box;background:#e3e6e9;color:#57606a;\
    border:1px dashed #8c959f;font:12px system-ui,sans-serif;overflow:hidden;";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::css::Prefers;

    const BASE_URL: &str = "https://shop.example/p/index.html";

    fn base() -> Base {
        Base::new(BASE_URL)
    }

    fn a(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn keep(ns: Ns, tag: &str, attrs: &[(&str, &str)]) -> Vec<(String, String)> {
        match plan_element(ns, tag, &a(attrs), &base()) {
            ElementPlan::Keep { attrs, .. } => attrs,
            other => panic!("{tag}: {other:?}"),
        }
    }

    #[test]
    fn frameset_tracks_become_grid_tracks_and_nothing_else() {
        assert_eq!(frameset_tracks("200, *,2*, 25%"), "200px 1fr 2fr 25%");
        assert_eq!(frameset_tracks(" 0* ,12.5%"), "0fr 12.5%");
        for bad in ["expression(alert(1))", "-5", "1e9", "inf", "NaN", "calc(1px)", "1px;x:y", "%", "*5"] {
            assert_eq!(frameset_tracks(bad), "1fr", "{bad}");
        }
        assert_eq!(frameset_tracks(&"1,".repeat(1000)).split(' ').count(), MAX_FRAMESET_TRACKS);
    }

    #[test]
    fn running_and_navigating_elements_are_inert() {
        for tag in ["script", "SCRIPT", "noscript", "base", "meta", "set", "animate"] {
            assert_eq!(plan_element(Ns::Html, tag, &[], &base()), ElementPlan::Inert, "{tag}");
        }
        assert_eq!(plan_element(Ns::Svg, "script", &[], &base()), ElementPlan::Inert);
        assert_eq!(
            plan_element(Ns::Html, "link", &a(&[("rel", "preload"), ("href", "x")]), &base()),
            ElementPlan::Inert
        );
        assert_eq!(plan_element(Ns::Html, "img onerror=x", &[], &base()), ElementPlan::Inert);
        assert!(matches!(
            plan_element(Ns::Html, "link", &a(&[("rel", "Stylesheet")]), &base()),
            ElementPlan::Keep { .. }
        ));
    }

    #[test]
    fn frames_and_plugins_become_placeholders() {
        for tag in ["iframe", "object", "embed", "frame"] {
            match plan_element(
                Ns::Html,
                tag,
                &a(&[("srcdoc", "<script>x</script>"), ("src", "https://x"), ("width", "300")]),
                &base(),
            ) {
                ElementPlan::Placeholder { attrs, .. } => assert_eq!(attrs, a(&[("width", "300")])),
                other => panic!("{tag}: {other:?}"),
            }
        }
    }

    #[test]
    fn captured_frames_keep_only_their_size_and_style() {
        let attrs = a(&[
            ("src", "https://evil.example/"),
            ("srcdoc", "<script>x</script>"),
            ("sandbox", "allow-scripts allow-same-origin"),
            ("allow", "camera"),
            ("name", "target"),
            ("onload", "x()"),
            ("width", "300"),
            ("height", "100%"),
            ("class", "embed"),
            ("style", "border:0;background:url(javascript:x)"),
        ]);
        match plan_frame(&attrs, &base()) {
            ElementPlan::Frame { attrs } => assert_eq!(
                attrs,
                a(&[
                    ("width", "300"),
                    ("height", "100%"),
                    ("class", "embed"),
                    ("style", "border:0;background:url(\"about:invalid\")")
                ])
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(frame_attr("width", "1 onload=x", &base()), None);
        assert_eq!(frame_attr("SANDBOX", "allow-scripts", &base()), None);
        assert_eq!(frame_attr("Src", "about:blank", &base()), None);
    }

    #[test]
    fn handlers_and_dangerous_attributes_are_dropped() {
        let kept = keep(
            Ns::Html,
            "img",
            &[
                ("src", "javascript:alert(1)"),
                ("onerror", "alert(1)"),
                ("ONLOAD", "x"),
                ("alt", "pic"),
                ("srcdoc", "x"),
            ],
        );
        assert_eq!(kept, a(&[("alt", "pic")]));
        let kept = keep(
            Ns::Html,
            "form",
            &[("action", "https://evil.example"), ("method", "post"), ("target", "_top"), ("class", "f")],
        );
        assert_eq!(kept, a(&[("class", "f")]));
        let kept = keep(Ns::Html, "button", &[("formaction", "javascript:x"), ("type", "submit")]);
        assert_eq!(kept, a(&[("type", "submit")]));
        // Buttons that act on other elements, and requests beside the resource.
        let kept = keep(
            Ns::Html,
            "button",
            &[("commandfor", "d"), ("command", "show-modal"), ("interestfor", "p"), ("class", "b")],
        );
        assert_eq!(kept, a(&[("class", "b")]));
        let kept =
            keep(Ns::Html, "img", &[("src", "a.png"), ("attributionsrc", "https://t.example"), ("browsingtopics", "")]);
        assert_eq!(kept, a(&[("src", "https://shop.example/p/a.png")]));
    }

    #[test]
    fn nothing_in_the_mirror_takes_down_what_the_page_shows_on_top() {
        assert_eq!(
            keep(Ns::Html, "div", &[("popover", "auto"), ("id", "menu")]),
            a(&[("popover", "manual"), ("id", "menu")])
        );
        assert_eq!(keep(Ns::Html, "div", &[("POPOVER", "hint")]), a(&[("popover", "manual")]));
        assert_eq!(
            keep(Ns::Html, "dialog", &[("closedby", "any"), ("open", "")]),
            a(&[("closedby", "none"), ("open", "")])
        );
    }

    #[test]
    fn the_page_shows_in_the_color_scheme_and_media_the_visitor_has() {
        let sent = [("prefers-color-scheme".to_owned(), "dark".to_owned())];
        let dark = base().with_prefers(Prefers::of(&sent));
        let meta = |attrs: &[(&str, &str)], b: &Base| plan_element(Ns::Html, "meta", &a(attrs), b);
        let kept = |content: &str| ElementPlan::Keep {
            tag: "meta".into(),
            attrs: a(&[("name", "color-scheme"), ("content", content)]),
        };
        assert_eq!(meta(&[("name", "Color-Scheme"), ("content", "light dark")], &dark), kept("dark"));
        assert_eq!(meta(&[("name", "color-scheme"), ("content", "light dark")], &base()), kept("light dark"));
        assert_eq!(
            meta(&[("name", "color-scheme"), ("content", "light url(x) only"), ("http-equiv", "refresh")], &base()),
            kept("light only")
        );
        assert_eq!(meta(&[("http-equiv", "refresh"), ("content", "0;url=javascript:x")], &dark), ElementPlan::Inert);
        assert_eq!(meta(&[("name", "viewport"), ("content", "width=device-width")], &dark), ElementPlan::Inert);
        // A kept meta's later changes say a scheme and nothing else.
        let change = |name: &str, value: &str| sanitize_attr(Ns::Html, "meta", name, value, &dark);
        assert_eq!(change("content", "dark light"), Some(("content".into(), "dark".into())));
        assert_eq!(change("content", "0;url=https://x.example"), Some(("content".into(), String::new())));
        assert_eq!(change("http-equiv", "refresh"), None);
        assert_eq!(change("charset", "x"), None);
        assert_eq!(
            keep(Ns::Html, "source", &[("media", "(prefers-color-scheme: light)")]),
            a(&[("media", "(prefers-color-scheme: light)")])
        );
        assert_eq!(
            sanitize_attr(Ns::Html, "source", "media", "(prefers-color-scheme: light)", &dark),
            Some(("media".into(), "(not (min-width: 0px))".into()))
        );
    }

    #[test]
    fn links_never_navigate() {
        assert_eq!(keep(Ns::Html, "a", &[("href", "javascript:alert(1)")]), a(&[]));
        assert_eq!(
            keep(Ns::Html, "a", &[("href", "next.html")]),
            a(&[("data-baton-href", "https://shop.example/p/next.html")])
        );
        assert_eq!(keep(Ns::Svg, "a", &[("xlink:href", "javascript:alert(1)")]), a(&[]));
        assert_eq!(keep(Ns::Svg, "use", &[("href", "#icon")]), a(&[("href", "#icon")]));
        assert_eq!(keep(Ns::Svg, "image", &[("xlink:href", "data:text/html,x")]), a(&[]));
    }

    #[test]
    fn only_svg_images_take_data_urls() {
        for (name, url) in [("href", "data:image/svg+xml,<svg/>"), ("xlink:href", "data:image/svg+xml;base64,PHN2Zy8+")]
        {
            assert_eq!(keep(Ns::Svg, "use", &[(name, url)]), a(&[]), "{name}");
            assert_eq!(keep(Ns::Svg, "textPath", &[(name, url)]), a(&[]), "{name}");
            assert_eq!(keep(Ns::Svg, "image", &[(name, url)]), a(&[("href", url)]), "{name}");
            assert_eq!(keep(Ns::Svg, "feImage", &[(name, url)]), a(&[("href", url)]), "{name}");
        }
        assert_eq!(
            keep(Ns::Svg, "use", &[("href", "icons.svg#i")]),
            a(&[("href", "https://shop.example/p/icons.svg#i")])
        );
    }

    #[test]
    fn urls_are_resolved_against_the_page() {
        assert_eq!(keep(Ns::Html, "img", &[("src", "../i.png")]), a(&[("src", "https://shop.example/i.png")]));
        assert_eq!(
            keep(Ns::Html, "img", &[("src", "data:image/svg+xml,<svg/>")]),
            a(&[("src", "data:image/svg+xml,<svg/>")])
        );
        assert_eq!(keep(Ns::Html, "video", &[("src", "data:image/png,x")]), a(&[]));
        assert_eq!(
            keep(Ns::Html, "div", &[("style", "background:url(javascript:x)")]),
            a(&[("style", "background:url(\"about:invalid\")")])
        );
        assert_eq!(keep(Ns::Svg, "rect", &[("fill", "url(#g)")]), a(&[("fill", "url(\"#g\")")]));
    }

    #[test]
    fn password_fields_keep_no_value() {
        assert_eq!(keep(Ns::Html, "input", &[("type", "password"), ("value", "hunter2")]), a(&[("type", "password")]));
        assert_eq!(
            keep(Ns::Html, "input", &[("type", "text"), ("value", "***")]),
            a(&[("type", "text"), ("value", "***")])
        );
    }

    #[test]
    fn namespaces() {
        assert_eq!(Ns::Html.child("div", "svg"), Ns::Svg);
        assert_eq!(Ns::Svg.child("svg", "foreignObject"), Ns::Svg);
        assert_eq!(Ns::Svg.child("foreignObject", "div"), Ns::Html);
        assert_eq!(Ns::Svg.child("g", "path"), Ns::Svg);
        assert_eq!(keep(Ns::Svg, "svg", &[("viewBox", "0 0 1 1")]), a(&[("viewBox", "0 0 1 1")]));
    }

    #[test]
    fn prefixed_names_cannot_smuggle_elements() {
        // createElementNS(svg, "x:script") is an SVGScriptElement (prefix "x").
        for tag in ["x:script", "svg:style", "x:a", "x:set", "x:animate", "x:discard"] {
            for ns in [Ns::Svg, Ns::MathMl] {
                let plan = plan_element(ns, tag, &a(&[("href", "https://evil.example/")]), &base());
                assert_eq!(plan, ElementPlan::Inert, "{tag}");
            }
        }
    }

    #[test]
    fn link_rel_stays_a_stylesheet() {
        assert_eq!(sanitize_attr(Ns::Html, "link", "rel", "preload", &base()), None);
        let both = sanitize_attr(Ns::Html, "link", "rel", "stylesheet prefetch", &base());
        assert_eq!(both, Some(("rel".into(), "stylesheet".into())));
    }
}
