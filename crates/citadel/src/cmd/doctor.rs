//! `citadel doctor`: checks the runtime posture of a home and says how to fix each finding.

use citadel_service::doctor::{local_checks, Check, Status};
use citadel_service::Home;
use serde_json::json;

use super::{output, session, GlobalArgs};

pub async fn run(global: &GlobalArgs) -> anyhow::Result<()> {
    let home = Home::resolve(global.home.clone());
    let mut checks = local_checks(&home);
    // The home refuses to open with loose key modes: report what was found so far instead.
    if !checks
        .iter()
        .any(|c| c.status == Status::Fail && c.check != "not running as root")
    {
        checks.extend(
            session::with_context(global, |citadel, ctx| async move {
                Ok(citadel.doctor_checks(&ctx).await?)
            })
            .await?,
        );
    }
    let worst = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
    if global.json {
        output::json(&json!({ "status": worst, "checks": checks }))?;
    } else {
        print(&checks);
    }
    if worst == Status::Fail {
        anyhow::bail!("doctor found problems to fix (see the table)");
    }
    Ok(())
}

fn print(checks: &[Check]) {
    output::table(
        ["check", "status", "detail", "fix"],
        checks.iter().map(|c| {
            [
                c.check.to_owned(),
                format!("{:?}", c.status).to_lowercase(),
                c.detail.clone(),
                if c.fix.is_empty() {
                    "-".to_owned()
                } else {
                    c.fix.clone()
                },
            ]
        }),
    );
}
