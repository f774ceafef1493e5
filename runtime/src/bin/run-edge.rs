fn main() {
    eprintln!("error: run-edge is not implemented yet");
    std::process::exit(2);
}
