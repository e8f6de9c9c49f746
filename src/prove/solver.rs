//! The cvc5 solver behind Cedar's symbolic compiler: where it is, and one
//! session that runs the checks (each with a time limit).

use std::path::{Path, PathBuf};
use std::time::Duration;

use cedar_policy::{PolicySet, RequestEnv, Schema};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet, Env};

/// How to install the solver, for error messages.
pub const INSTALL_HINT: &str = "install cvc5 (Debian/Ubuntu: `apt-get install cvc5`; or a release \
     from https://github.com/cvc5/cvc5/releases) or set CVC5=/path/to/cvc5";

/// Finds the solver: `explicit`, else `$CVC5`, else `cvc5` on `PATH`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("solver {} not found; {INSTALL_HINT}", p.display()))
        };
    }
    if let Some(p) = std::env::var_os("CVC5").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "CVC5={} is not a file; {INSTALL_HINT}",
                p.display()
            ))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("cvc5"))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("the cvc5 solver is not on PATH; {INSTALL_HINT}"))
}

/// The answer of one check on one request environment.
pub enum Answer {
    /// The property holds for every input.
    Holds,
    /// An input where it does not.
    Fails(Box<Env>),
    /// The solver could not say (time limit, or an error), and why.
    Unknown(String),
}

/// A solver process and the runtime that talks to it.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    compiler: Option<CedarSymCompiler<LocalSolver>>,
    path: PathBuf,
    timeout: Duration,
}

/// One kind of check, on compiled sets.
pub enum Check<'a> {
    /// `check_disjoint`: no input allowed by both.
    Disjoint(&'a CompiledPolicySet, &'a CompiledPolicySet),
    /// `check_implies`: whatever the first allows, the second allows.
    Implies(&'a CompiledPolicySet, &'a CompiledPolicySet),
    /// `check_equivalent`.
    Equivalent(&'a CompiledPolicySet, &'a CompiledPolicySet),
    /// `check_always_denies`.
    AlwaysDenies(&'a CompiledPolicySet),
    /// `check_never_errors` of one policy.
    NeverErrors(&'a CompiledPolicy),
}

impl Session {
    /// Starts a session with the solver at `path`, `timeout` per check.
    pub fn new(path: PathBuf, timeout: Duration) -> Result<Session, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the solver runtime: {e}"))?;
        let mut s = Session {
            runtime,
            compiler: None,
            path,
            timeout,
        };
        s.start()?;
        Ok(s)
    }

    fn start(&mut self) -> Result<(), String> {
        let ms = self.timeout.as_millis().max(1);
        let path = self.path.clone();
        let limit = format!("--tlimit-per={ms}");
        let solver = self.runtime.block_on(async {
            LocalSolver::from_command(
                tokio::process::Command::new(&path)
                    .args(["--lang", "smt"])
                    .arg(&limit)
                    .kill_on_drop(true),
            )
        });
        let solver =
            solver.map_err(|e| format!("cannot start the solver {}: {e}", path.display()))?;
        let compiler = CedarSymCompiler::new(solver)
            .map_err(|e| format!("cannot start the symbolic compiler: {e}"))?;
        self.compiler = Some(compiler);
        Ok(())
    }

    /// Runs one check; a solver error ends this solver process and the next
    /// check starts a fresh one.
    pub fn check(&mut self, check: Check<'_>) -> Answer {
        if self.compiler.is_none() {
            if let Err(e) = self.start() {
                return Answer::Unknown(e);
            }
        }
        let Some(c) = self.compiler.as_mut() else {
            return Answer::Unknown("no solver".into());
        };
        let result = self.runtime.block_on(async {
            match check {
                Check::Disjoint(a, b) => c.check_disjoint_with_counterexample_opt(a, b).await,
                Check::Implies(a, b) => c.check_implies_with_counterexample_opt(a, b).await,
                Check::Equivalent(a, b) => c.check_equivalent_with_counterexample_opt(a, b).await,
                Check::AlwaysDenies(a) => c.check_always_denies_with_counterexample_opt(a).await,
                Check::NeverErrors(p) => c.check_never_errors_with_counterexample_opt(p).await,
            }
        });
        match result {
            Ok(None) => Answer::Holds,
            Ok(Some(env)) => Answer::Fails(Box::new(env)),
            Err(e) => {
                self.compiler = None;
                let why = match e {
                    cedar_policy_symcc::err::Error::SolverUnknown => format!(
                        "the solver answered unknown (time limit {} ms per check)",
                        self.timeout.as_millis()
                    ),
                    other => format!("the solver failed: {other}"),
                };
                Answer::Unknown(why)
            }
        }
    }
}

/// A policy set compiled for one request environment. An empty set cannot
/// be compiled, so it is written as the one policy that matches nothing
/// (the same decisions: deny everything).
pub fn compile_set(
    set: &PolicySet,
    env: &RequestEnv,
    schema: &Schema,
) -> Result<CompiledPolicySet, String> {
    let empty;
    let set = if set.is_empty() {
        empty = match "permit (principal, action, resource) when { false };".parse::<PolicySet>() {
            Ok(s) => s,
            Err(e) => return Err(e.to_string()),
        };
        &empty
    } else {
        set
    };
    CompiledPolicySet::compile(set, env, schema).map_err(|e| describe(&e))
}

/// A compile error with the validator's reasons, on one line each.
pub fn describe(e: &cedar_policy_symcc::err::Error) -> String {
    use cedar_policy_symcc::err::Error;
    match e {
        Error::PolicyNotWellTyped { errs } => {
            let reasons: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            format!(
                "not well typed for this request shape: {}",
                reasons.join("; ")
            )
        }
        other => other.to_string(),
    }
}
