//! What the read and write sides both ask of the tenant's directory tables.

use sqlx::PgPool;
use uuid::Uuid;

/// The owners whose customers the manager `login` sees and changes: its own
/// login and the members of the teams it manages, sorted. `None` when the
/// tenant has no directory (then a manager sees the whole tenant, as before
/// the directory existed).
pub async fn managed_owners(
    pool: &PgPool,
    tenant_id: Uuid,
    login: &str,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    let (has_directory, mut members): (bool, Vec<String>) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM directory_users WHERE tenant_id = $1),
                ARRAY(SELECT DISTINCT member.login
                        FROM directory_team_members manager
                        JOIN directory_team_members member USING (tenant_id, team_id)
                       WHERE manager.tenant_id = $1 AND manager.login = $2
                         AND manager.role = 'manager')",
    )
    .bind(tenant_id)
    .bind(login)
    .fetch_one(pool)
    .await?;
    if !has_directory {
        return Ok(None);
    }
    if !members.iter().any(|member| member == login) {
        members.push(login.to_owned());
    }
    members.sort_unstable();
    Ok(Some(members))
}
