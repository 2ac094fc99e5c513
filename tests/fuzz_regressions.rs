//! Replays the fuzz targets' seeds and every kept crash input through the targets' own checks,
//! on stable Rust, as part of `cargo test`.
//!
//! The checks live in `fuzz/src/` (the cargo-fuzz crate's library) and are included here with
//! `#[path]`, so a fuzz finding copied to `fuzz/regressions/<target>/` becomes a regular test.
//! With `WSPROTO_FUZZ_CORPUS=<dir>` set, the seeds are also written to `<dir>/<target>/`
//! (`.ci/fuzz.sh` does this to seed `fuzz/corpus/`).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod wsproto_fuzz;

use std::path::{Path, PathBuf};

fn regression_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn replay(target: &str) {
    let (_, run) = wsproto_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("unknown target");
    let seeds = wsproto_fuzz::seeds::seeds(target);
    assert!(!seeds.is_empty(), "no seeds for {target}");
    if let Some(dir) = std::env::var_os("WSPROTO_FUZZ_CORPUS") {
        let dir = Path::new(&dir).join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
    // Under Miri (~1000x slower) a sample of the seeds keeps the run to about a minute; the kept
    // regression inputs all run.
    let step = if cfg!(miri) { 5 } else { 1 };
    for (name, bytes) in seeds.iter().step_by(step) {
        eprintln!("{target}: seed {name}");
        run(bytes);
    }
    for (path, bytes) in regression_inputs(target) {
        eprintln!("{target}: regression {}", path.display());
        run(&bytes);
    }
}

#[test]
fn every_target_is_replayed() {
    let names: Vec<&str> = wsproto_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    let mut expected = vec!["frame_decode", "roundtrip"];
    if cfg!(feature = "__internal-test-hooks") {
        expected.push("mask");
    }
    expected.extend(["differential", "handshake_server", "handshake_client"]);
    if cfg!(feature = "deflate") {
        expected.push("inflate");
    }
    assert_eq!(names, expected);
    // Every directory of kept inputs belongs to a target.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                names.contains(&name.as_str()) || name == "inflate" || name == "mask",
                "fuzz/regressions/{name}: no such target"
            );
        }
    }
}

#[test]
fn frame_decode() {
    replay("frame_decode");
}

#[test]
fn roundtrip() {
    replay("roundtrip");
}

#[cfg(feature = "__internal-test-hooks")]
#[test]
fn mask() {
    replay("mask");
}

#[test]
fn differential() {
    replay("differential");
}

#[test]
fn handshake_server() {
    replay("handshake_server");
}

#[test]
fn handshake_client() {
    replay("handshake_client");
}

#[cfg(feature = "deflate")]
#[test]
fn inflate() {
    replay("inflate");
}
