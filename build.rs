//! Records the compiler version and git revision so that every results file can name them.
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(v) = run(&rustc, &["--version"]) {
        println!("cargo:rustc-env=PARLAB_RUSTC_VERSION={v}");
    }
    if let Some(rev) = run("git", &["rev-parse", "--short=12", "HEAD"]) {
        let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"])
            .map(|s| !s.is_empty())
            .unwrap_or(false);
        let suffix = if dirty { "-dirty" } else { "" };
        println!("cargo:rustc-env=PARLAB_GIT_REVISION={rev}{suffix}");
    }
    // Rebuild when HEAD moves so the revision stays right; the index changes on every commit.
    for path in [".git/HEAD", ".git/index"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
