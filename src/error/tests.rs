use super::*;

#[test]
fn exit_codes_follow_the_shell_conventions() {
    let code = |s| Kind::Interrupted(s).exit_code();
    assert_eq!(
        (code(Signal::Hup), code(Signal::Int), code(Signal::Term)),
        (129, 130, 143)
    );
    assert_eq!(Kind::CommandNotFound.exit_code(), 127);
    assert_eq!(Kind::NotExecutable.exit_code(), 126);
    assert_eq!(Kind::Interrupted(Signal::Term).name(), "interrupted");
    assert_eq!(Signal::from_number(15), Some(Signal::Term));
    assert_eq!(Signal::from_number(9), None);
}
