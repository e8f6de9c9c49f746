//! The container image's recipe: what the Dockerfile copies exists, it runs
//! as a non-root user, its health check asks `/readyz`, and the command and
//! environment it gives teamgate are ones teamgate takes. (No container
//! runtime here: `deploy/kubernetes/check.sh` validates the manifests, and
//! the image's build steps are the README's `cargo build --release --locked`.)

mod util;

use util::{repo, run};

fn instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
            (op.to_uppercase(), rest.trim().to_string())
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_a_small_non_root_image_of_real_commands() {
    let ins = instructions();
    let froms: Vec<&String> = ins
        .iter()
        .filter(|(op, _)| op == "FROM")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(
        froms.len(),
        2,
        "multi-stage: a build stage and a runtime stage"
    );
    assert!(froms[0].contains(" AS build"), "{froms:?}");
    assert!(
        froms[1].contains("slim"),
        "a small runtime image: {froms:?}"
    );
    // Everything copied from the build context exists.
    for (op, args) in &ins {
        if op != "COPY" || args.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            assert!(
                repo().join(src).exists(),
                "COPY {src}: not in the repository"
            );
        }
    }
    // The runtime stage runs as a non-root user.
    let runtime = ins
        .iter()
        .rposition(|(op, _)| op == "FROM")
        .expect("runtime stage");
    let user = ins[runtime..]
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .map(|(_, a)| a.clone())
        .expect("USER");
    assert!(user != "root" && user != "0", "USER {user}");
    let health = ins
        .iter()
        .find(|(op, _)| op == "HEALTHCHECK")
        .map(|(_, a)| a.clone())
        .expect("HEALTHCHECK");
    assert!(health.contains("/readyz"), "{health}");
    // ENTRYPOINT teamgate, CMD a subcommand it has.
    let entry = ins
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    assert_eq!(entry.1, r#"["teamgate"]"#);
    let cmd = ins.iter().find(|(op, _)| op == "CMD").expect("CMD");
    let sub: Vec<String> = serde_json::from_str(&cmd.1).expect("CMD as JSON");
    let (code, help, err) = run(&[&sub[0], "--help"]);
    assert_eq!(code, 0, "{err}");
    // The environment it sets is read by that command.
    for (op, args) in &ins {
        if op != "ENV" {
            continue;
        }
        for pair in args.split_whitespace() {
            let name = pair.split('=').next().unwrap_or_default();
            assert!(
                help.contains(&format!("env: {name}=")),
                "ENV {name}: `teamgate {} --help` takes no such variable",
                sub[0]
            );
        }
    }
}
