//! Times the shell analysis of generated commands: `shell_timing words N`,
//! `shell_timing heredoc BYTES`, `shell_timing commands N`.
use std::time::Instant;
fn main() {
    let kind = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let cmd = match kind.as_str() {
        "heredoc" => format!(
            "cat > f.txt <<'EOF'\n{}\nEOF",
            "some text line here\n".repeat(n / 20)
        ),
        "commands" => (0..n)
            .map(|i| format!("echo a{i} > /tmp/x{i}"))
            .collect::<Vec<_>>()
            .join(" && "),
        _ => format!(
            "echo {}",
            (0..n)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    let t = Instant::now();
    let options = brush_parser::ParserOptions::default();
    let p = brush_parser::Parser::new(std::io::BufReader::new(cmd.as_bytes()), &options)
        .parse_program();
    println!(
        "{kind}: parse {} bytes: {:?} ok={}",
        cmd.len(),
        t.elapsed(),
        p.is_ok()
    );
    let t = Instant::now();
    let a = codex_guard_hook::shell::analyze(&cmd, &Default::default());
    println!(
        "analyze: {:?} invocations={} unparsed={}",
        t.elapsed(),
        a.invocations.len(),
        a.unparsed
    );
}
