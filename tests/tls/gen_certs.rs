//! Writes test certificates for `.ci/tls.sh`: `DIR/ca.pem` (the CA to trust), `DIR/cert.pem`
//! and `DIR/key.pem` (a server certificate for `localhost` and 127.0.0.1, and its key).
//!
//! ```text
//! cargo run --all-features --example tls_test_certs -- DIR
//! ```

#[path = "certs.rs"]
mod certs;

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let pki = certs::TestPki::generate();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem)?;
    std::fs::write(dir.join("cert.pem"), &pki.localhost.cert_pem)?;
    std::fs::write(dir.join("key.pem"), &pki.localhost.key_pem)?;
    println!("test certificates written to {}", dir.display());
    Ok(())
}
