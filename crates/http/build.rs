// The web UI's build output is embedded with include_dir!, which cannot tell cargo to
// watch it on stable Rust: this does, so a rebuilt UI is picked up.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
