fn main() {
    std::process::exit(dev_prism::run());
}
