//! The content script's JavaScript build: the same Rust, for pages whose
//! Content-Security-Policy forbids compiling WebAssembly (no
//! `'wasm-unsafe-eval'`), which binds content scripts too.
//!
//! From the content script's Wasm (the crate without its `pages` feature)
//! built without reference types and multi-value (wasm2js cannot translate
//! them, and wasm-bindgen then keeps JS objects in its JS heap instead of an
//! externref table):
//! 1. drop the `target_features` section, which still names reference types
//!    (from the prebuilt, non-LTO compiler builtins) and would turn
//!    wasm-bindgen's externref pass on;
//! 2. wasm-bindgen `--target no-modules` with its own global,
//!    `baton_content_js`, so it cannot clash with the Wasm glue's
//!    `wasm_bindgen` in the same content-script world;
//! 3. keep only the exports a content script calls (a check: the build
//!    without `pages` has no others);
//! 4. `wasm-opt` (lower saturating float-to-int, which wasm2js lacks; -O2),
//!    then `wasm2js -O2`;
//! 5. make the output a classic script defining `baton_content_asm`, whose
//!    memory detaches its old buffer when it grows, as WebAssembly's does
//!    (the glue's cached views rely on that to notice growth);
//! 6. give the glue `initFromAsm(baton_content_asm)`, which instantiates by
//!    calling the translation with the glue's imports.
//!
//! `extension/static/content_fallback.js` starts it; the worker injects the
//! three files (`capture/pages.rs`). No eval anywhere, so a strict page
//! policy allows it. The result is cached under target/ by the input's hash.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::binaryen::{self, Binaryen};
use crate::error::{Error, Result};
use crate::package::sha256;
use crate::process;
use crate::ui;
use crate::wasm_sections;
use crate::workspace::{Workspace, EXTENSION_ARTIFACT};

/// Where the build goes inside dist/extension (the worker names these files).
pub const DIST_DIR: &str = "wasm/content-js";
/// The glue, and the translated module.
pub const GLUE_FILE: &str = "baton_extension.js";
pub const ASM_FILE: &str = "baton_extension_asm.js";
const GLUE_GLOBAL: &str = "baton_content_js";
const ASM_GLOBAL: &str = "baton_content_asm";

/// Bump when the steps below change, so cached output is not reused.
const PIPELINE: &str = "content-js 1";

/// What the module uses after LLVM with reference types and multi-value off.
const FEATURES: [&str; 5] = [
    "--enable-mutable-globals",
    "--enable-sign-ext",
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-nontrapping-float-to-int",
];

/// Builds (or reuses) the JS build of `wasm`; returns the directory holding
/// `GLUE_FILE` and `ASM_FILE`.
pub fn generate(ws: &Workspace, binaryen: &Binaryen, bindgen_cli: &Path, wasm: &Path) -> Result<PathBuf> {
    let out = ws.target.join("content-js");
    let input = fs::read(wasm).map_err(|e| Error::io(format!("reading {}", wasm.display()), e))?;
    let bindgen_version = process::capture(Command::new(bindgen_cli).arg("--version"))?;
    let key = {
        let mut keyed = input.clone();
        keyed.extend_from_slice(format!("\n{PIPELINE}\n{}\n{bindgen_version}", binaryen::VERSION).as_bytes());
        sha256::hex(&sha256::digest(&keyed))
    };
    let stamp = out.join("input.sha256");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str())
        && out.join(GLUE_FILE).is_file()
        && out.join(ASM_FILE).is_file()
    {
        ui::note("content script JS build unchanged; reusing it");
        return Ok(out);
    }
    ui::step("translating the content script to JavaScript (for pages that forbid WebAssembly)");
    let work = out.join("work");
    crate::dist::reset(&out)?;
    fs::create_dir_all(&work).map_err(|e| Error::io(format!("creating {}", work.display()), e))?;
    let write = |path: &Path, bytes: &[u8]| {
        fs::write(path, bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    };
    let malformed = |e: wasm_sections::Malformed| Error::Setup(format!("{}: {e}", wasm.display()));

    // 1.
    let plain = work.join(format!("{EXTENSION_ARTIFACT}.wasm"));
    write(&plain, &wasm_sections::without_custom_section(&input, "target_features").map_err(malformed)?)?;
    // 2.
    let bindgen_dir = work.join("bindgen");
    process::run(
        Command::new(bindgen_cli)
            .args(["--target", "no-modules", "--no-modules-global", GLUE_GLOBAL, "--no-typescript"])
            .args(["--out-name", EXTENSION_ARTIFACT, "--out-dir"])
            .arg(&bindgen_dir)
            .arg(&plain),
    )?;
    // 3.
    let bound = bindgen_dir.join(format!("{EXTENSION_ARTIFACT}_bg.wasm"));
    let bound_bytes = fs::read(&bound).map_err(|e| Error::io(format!("reading {}", bound.display()), e))?;
    let (content_only, dropped) = wasm_sections::retain_exports(&bound_bytes, is_content_export).map_err(malformed)?;
    if !dropped.is_empty() {
        ui::note(format!("left out the other contexts' entry points: {}", dropped.join(", ")));
    }
    let content_wasm = work.join("content.wasm");
    write(&content_wasm, &content_only)?;
    // 4.
    let optimized = work.join("content.opt.wasm");
    let mut opt_args = FEATURES.to_vec();
    opt_args.extend(["--llvm-nontrapping-fptoint-lowering", "-O2"]);
    binaryen.wasm_opt(&opt_args, &content_wasm, &optimized)?;
    let module_js = work.join("content.mjs");
    let mut js_args = FEATURES.to_vec();
    js_args.push("-O2");
    binaryen.wasm2js(&js_args, &optimized, &module_js)?;
    // 5. and 6.
    let module_text = read_text(&module_js)?;
    write(&out.join(ASM_FILE), classic_asm(&module_text)?.as_bytes())?;
    let glue = read_text(&bindgen_dir.join(format!("{EXTENSION_ARTIFACT}.js")))?;
    write(&out.join(GLUE_FILE), glue_for_asm(&glue)?.as_bytes())?;

    fs::remove_dir_all(&work).map_err(|e| Error::io(format!("removing {}", work.display()), e))?;
    write(&stamp, key.as_bytes())?;
    Ok(out)
}

/// The exports a content script needs: its entry point, the capture
/// debugging hooks the tests call, and wasm-bindgen's own (memory,
/// allocation, closures: `__wbindgen_*`, `__*`, `wasm_bindgen__*`). The
/// other contexts' entry points (`start_popup`, `on_connect`, …) go.
fn is_content_export(name: &str) -> bool {
    name == "memory"
        || name == "start_content_script"
        || name.starts_with("debug_capture_")
        || name.starts_with("__")
        || name.starts_with("wasm_bindgen__")
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

/// Replaces the one occurrence of `from`; anything else means the tool's
/// output changed shape, which must stop the build rather than ship a
/// broken fallback.
fn replace_once(text: &str, from: &str, to: &str, what: &str) -> Result<String> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => Err(Error::Setup(format!(
            "{what}: expected `{from}` once in the generated code, found it {n} times; \
             the generator's output changed, so xtask/src/content_js.rs needs updating"
        ))),
    }
}

/// wasm2js writes an ES module (`import * as … from`, `export var …`);
/// content scripts are classic scripts. Wraps the module in a function
/// scope that returns `asmFunc` (imports → exports) as `ASM_GLOBAL`.
fn classic_asm(module: &str) -> Result<String> {
    // WebAssembly memory detaches its old buffer on growth; wasm2js copies
    // into a new one and leaves the old one live, so views cached by the
    // glue would silently write to stale memory. `transfer` grows and
    // detaches (Chrome 114+; the manifest asks for 116).
    let grown =
        replace_once(module, "new ArrayBuffer(newPages << 16)", "buffer.transfer(newPages << 16)", "memory growth")?;
    let grown = replace_once(&grown, "newHEAP8.set(HEAP8);", "", "memory growth")?;

    let body_end = grown.find("\nvar retasmFunc = asmFunc(").ok_or_else(|| {
        Error::Setup("wasm2js output has no `var retasmFunc = asmFunc(`; xtask/src/content_js.rs needs updating".into())
    })?;
    let mut out = format!(
        "// Generated by `cargo xtask build` from the content script's Wasm (xtask/src/content_js.rs).\n\
         var {ASM_GLOBAL} = (function () {{\n\"use strict\";\n"
    );
    for line in grown[..body_end].lines() {
        // Imports are passed to asmFunc instead.
        if line.starts_with("import ") {
            continue;
        }
        // No string, comment or template in wasm2js output spans lines, so
        // indentation can go (a third of the size).
        let line = line.trim_start();
        if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("return asmFunc;\n})();\n");
    Ok(out)
}

/// The wasm-bindgen glue with `initFromAsm(asm)`: `asm(imports)` gives the
/// exports a WebAssembly instance would have.
fn glue_for_asm(glue: &str) -> Result<String> {
    let glue = replace_once(
        glue,
        "    return Object.assign(__wbg_init, { initSync }, exports);",
        "    // Added by `cargo xtask build` (xtask/src/content_js.rs): instantiate from\n\
         \x20   // the module's JavaScript translation instead of WebAssembly.\n\
         \x20   function initFromAsm(asm) {\n\
         \x20       if (wasm !== undefined) return wasm;\n\
         \x20       return __wbg_finalize_init({ exports: asm(__wbg_get_imports()) }, undefined);\n\
         \x20   }\n\
         \x20   return Object.assign(__wbg_init, { initSync, initFromAsm }, exports);",
        "wasm-bindgen glue",
    )?;
    Ok(format!("// Generated by `cargo xtask build` (xtask/src/content_js.rs).\n{glue}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = "import * as $_bg from './baton_extension_bg.js';\n\
        \x20 var bufferView;\n\
        function asmFunc(imports) {\n var buffer = new ArrayBuffer(65536);\n\
        \x20function __wasm_memory_grow(pagesToAdd) {\n\
        \x20  var newBuffer = new ArrayBuffer(newPages << 16);\n\
        \x20  var newHEAP8 = new Int8Array(newBuffer);\n\
        \x20  newHEAP8.set(HEAP8);\n\
        \x20 }\n return { \"f\": $0 };\n}\n\
        \n\
        var retasmFunc = asmFunc({\n  \"./baton_extension_bg.js\": $_bg,\n});\n\
        export var f = retasmFunc.f;\n";

    #[test]
    fn makes_a_classic_script_whose_memory_detaches_on_growth() {
        let out = classic_asm(MODULE).unwrap();
        assert!(out.contains("var baton_content_asm = (function () {"));
        assert!(out.trim_end().ends_with("return asmFunc;\n})();"));
        assert!(!out.contains("import "), "{out}");
        assert!(!out.contains("export "), "{out}");
        assert!(!out.contains("retasmFunc"), "{out}");
        assert!(out.contains("var newBuffer = buffer.transfer(newPages << 16);"));
        assert!(!out.contains("newHEAP8.set"));
        assert!(out.lines().all(|l| !l.starts_with(' ')));
    }

    #[test]
    fn a_changed_generator_stops_the_build() {
        assert!(classic_asm(&MODULE.replace("newHEAP8.set(HEAP8);", "")).is_err());
        assert!(classic_asm(&MODULE.replace("var retasmFunc", "const retasmFunc")).is_err());
        assert!(glue_for_asm("return Object.assign(__wbg_init, exports);").is_err());
    }

    #[test]
    fn glue_gains_init_from_asm() {
        let glue = "let baton_content_js = (function(exports) {\n    return Object.assign(__wbg_init, { initSync }, exports);\n})({ __proto__: null });\n";
        let out = glue_for_asm(glue).unwrap();
        assert!(out.contains("function initFromAsm(asm) {"));
        assert!(out.contains("return Object.assign(__wbg_init, { initSync, initFromAsm }, exports);"));
    }

    #[test]
    fn keeps_only_what_a_content_script_calls() {
        for name in [
            "memory",
            "start_content_script",
            "debug_capture_take",
            "__wbindgen_malloc",
            "__abort_handler",
            "wasm_bindgen__convert__closures_____invoke__h1",
        ] {
            assert!(is_content_export(name), "{name}");
        }
        for name in ["start_popup", "start_service_worker", "on_connect", "on_browser_event"] {
            assert!(!is_content_export(name), "{name}");
        }
    }
}
