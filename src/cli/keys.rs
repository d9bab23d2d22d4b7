//! `adbrag keys create|list|revoke`: API keys for the HTTP API.

use crate::{
    config::{KeysArgs, KeysCommand},
    store::{self, api_keys},
};

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let pool = store::connect(&args.database.options()?).await?;
    match args.command {
        KeysCommand::Create { tenant, role, name } => {
            let created = api_keys::create(&pool, &tenant, role, &name).await?;
            eprintln!(
                "created key {} for tenant '{}' ({:?}); it is shown once, store it now:",
                created.key.prefix, created.key.tenant, created.key.role
            );
            println!("{}", created.secret);
        }
        KeysCommand::List { tenant } => {
            for key in api_keys::list(&pool, tenant.as_deref()).await? {
                println!(
                    "{}  {:<12} {:<7} {:<20} created {}{}",
                    key.id,
                    key.prefix,
                    key.role.as_str(),
                    key.tenant,
                    key.created_at.format("%Y-%m-%d %H:%M"),
                    key.revoked_at
                        .map(|at| format!(", revoked {}", at.format("%Y-%m-%d %H:%M")))
                        .unwrap_or_default()
                );
            }
        }
        KeysCommand::Revoke { key } => {
            let revoked = api_keys::revoke(&pool, &key).await?;
            println!(
                "revoked {} ({}, tenant '{}')",
                revoked.prefix, revoked.name, revoked.tenant
            );
        }
    }
    Ok(())
}
