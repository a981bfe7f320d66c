//! `cargo xtask build [--release]`: host and server binaries, the extension's
//! Wasm, its wasm-bindgen glue, the content script's JavaScript build (for
//! pages that forbid WebAssembly), and the unpacked extension in dist/extension/.

use std::path::PathBuf;
use std::process::Command;

use crate::apt::Apt;
use crate::binaryen::Binaryen;
use crate::bindgen;
use crate::content_js;
use crate::dist;
use crate::error::{Error, Result};
use crate::process;
use crate::report::Report;
use crate::ui;
use crate::wasm_toolchain::{self, cargo};
use crate::workspace::{relative, Workspace, EXTENSION_PACKAGE, HOST_PACKAGE, SERVER_PACKAGE};

pub struct Built {
    pub host: PathBuf,
    pub server: PathBuf,
    pub extension: PathBuf,
}

pub fn build(ws: &Workspace, apt: &mut Apt, release: bool, report: &mut Report) -> Result<Built> {
    let profile = if release { "release" } else { "debug" };
    report.time(&format!("build host + server ({profile})"), || {
        ui::step(format!("building {HOST_PACKAGE} and {SERVER_PACKAGE} ({profile})"));
        let mut cmd = Command::new(cargo());
        cmd.args(["build", "--package", HOST_PACKAGE, "--package", SERVER_PACKAGE]).current_dir(&ws.root);
        if release {
            cmd.arg("--release");
        }
        process::run(&mut cmd)
    })?;

    let built = report.time("build extension (wasm32, three times)", || wasm_toolchain::build_extension(ws, apt))?;
    let wasm = built.wasm;

    let cli = match bindgen::required_version(ws)? {
        Some(version) => Some(report.time("wasm-bindgen CLI", || bindgen::ensure_cli(ws, &version))?),
        None => {
            ui::warn(format!(
                "{EXTENSION_PACKAGE} does not depend on wasm-bindgen yet; dist/extension gets no wasm/ glue"
            ));
            report.skipped("wasm-bindgen CLI", "extension has no wasm-bindgen dependency");
            None
        }
    };

    let content_js = match &cli {
        Some(cli) => {
            let binaryen = report.time("binaryen (npm)", || Binaryen::ensure(ws, apt))?;
            Some(report.time("content script JS build", || content_js::generate(ws, &binaryen, cli, &built.for_js))?)
        }
        None => None,
    };

    let out = ws.dist_extension();
    report.time("assemble dist/extension", || {
        ui::step(format!("assembling {}", relative(ws, &out)));
        dist::reset(&out)?;
        let statics = ws.extension_static();
        if statics.is_dir() {
            let copied = dist::copy_tree(&statics, &out)?;
            ui::note(format!("copied {copied} files from {}", relative(ws, &statics)));
        } else {
            ui::warn(format!("{} does not exist; no static files copied", relative(ws, &statics)));
        }
        if let Some(cli) = &cli {
            bindgen::generate(cli, &wasm, &out.join("wasm"))?;
            bindgen::generate_classic(cli, &built.content, &out.join("wasm").join("content"))?;
            ui::note("generated wasm/baton_extension.js, wasm/content/baton_extension.js and their .wasm");
        }
        if let Some(generated) = &content_js {
            let to = out.join(content_js::DIST_DIR);
            std::fs::create_dir_all(&to).map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
            for file in [content_js::GLUE_FILE, content_js::ASM_FILE] {
                std::fs::copy(generated.join(file), to.join(file))
                    .map_err(|e| Error::io(format!("copying {file} into {}", to.display()), e))?;
            }
            ui::note(format!("copied the content script's JS build into {}", content_js::DIST_DIR));
        }
        if !out.join("manifest.json").is_file() {
            ui::warn(format!("{} has no manifest.json yet, so the browser cannot load it", relative(ws, &out)));
        }
        Ok(())
    })?;

    Ok(Built { host: ws.bin(release, HOST_PACKAGE), server: ws.bin(release, SERVER_PACKAGE), extension: out })
}
