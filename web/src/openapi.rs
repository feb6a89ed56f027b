//! The problem+json responses the routes document, defined once: one type per
//! status and description (`#[derive(IntoResponses)]`), and the sets most
//! routes share. A route lists them after its own success response, e.g.
//! `responses((status = 200, ...), CommandProblems, RuleViolated)`; a
//! description only one route uses stays inline in its attribute.
//!
//! The types only document: no handler returns them.

use std::collections::BTreeMap;

use utoipa::openapi::response::Response;
use utoipa::openapi::RefOr;
use utoipa::IntoResponses;

use crate::problem::PROBLEM_JSON;
use crate::Problem;

/// 400 of the command routes.
#[derive(IntoResponses)]
#[response(status = 400, description = "Malformed request", content_type = PROBLEM_JSON)]
pub struct MalformedRequest(pub Problem);

/// 400 of the read routes.
#[derive(IntoResponses)]
#[response(status = 400, description = "Bad parameter", content_type = PROBLEM_JSON)]
pub struct BadParameter(pub Problem);

/// 401 of every `/v1` route.
#[derive(IntoResponses)]
#[response(status = 401, description = "No or bad token", content_type = PROBLEM_JSON)]
pub struct Unauthorized(pub Problem);

/// 403 of the command routes.
#[derive(IntoResponses)]
#[response(status = 403, description = "Role may not do this", content_type = PROBLEM_JSON)]
pub struct RoleForbidden(pub Problem);

/// 403 of the audit routes.
#[derive(IntoResponses)]
#[response(status = 403, description = "Not an auditor or admin", content_type = PROBLEM_JSON)]
pub struct AuditorsOnly(pub Problem);

/// 404 of a route on a customer the caller may see (reps: their own).
#[derive(IntoResponses)]
#[response(status = 404, description = "No such customer for this caller", content_type = PROBLEM_JSON)]
pub struct CustomerNotFound(pub Problem);

/// 404 of a route on a follow-up (or, scheduling one, its customer) the
/// caller may see.
#[derive(IntoResponses)]
#[response(status = 404, description = "No such follow-up (or customer) for this caller", content_type = PROBLEM_JSON)]
pub struct FollowUpNotFound(pub Problem);

/// 404 of an audit route (tenant-wide).
#[derive(IntoResponses)]
#[response(status = 404, description = "No such customer in this tenant", content_type = PROBLEM_JSON)]
pub struct NotInTenant(pub Problem);

/// 409: another write to the stream won.
#[derive(IntoResponses)]
#[response(status = 409, description = "Concurrent write", content_type = PROBLEM_JSON)]
pub struct ConcurrentWrite(pub Problem);

/// 412: `If-Match` is not the stream's version.
#[derive(IntoResponses)]
#[response(status = 412, description = "If-Match names another version", content_type = PROBLEM_JSON)]
pub struct VersionMismatch(pub Problem);

/// 413: over [`crate::extract::MAX_BODY_BYTES`].
#[derive(IntoResponses)]
#[response(status = 413, description = "Body over 64 KiB", content_type = PROBLEM_JSON)]
pub struct BodyTooLarge(pub Problem);

/// 422: a business rule refused the command.
#[derive(IntoResponses)]
#[response(status = 422, description = "Rule violated", content_type = PROBLEM_JSON)]
pub struct RuleViolated(pub Problem);

fn merged(
    sets: impl IntoIterator<Item = BTreeMap<String, RefOr<Response>>>,
) -> BTreeMap<String, RefOr<Response>> {
    sets.into_iter().flatten().collect()
}

/// Every command: 400 [`MalformedRequest`], 401 [`Unauthorized`], 403 [`RoleForbidden`].
pub struct CommandProblems;

impl IntoResponses for CommandProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        merged([
            MalformedRequest::responses(),
            Unauthorized::responses(),
            RoleForbidden::responses(),
        ])
    }
}

/// A command on an existing customer: 404 [`CustomerNotFound`],
/// 409 [`ConcurrentWrite`], 412 [`VersionMismatch`].
pub struct ExistingCustomerProblems;

impl IntoResponses for ExistingCustomerProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        merged([
            CustomerNotFound::responses(),
            ConcurrentWrite::responses(),
            VersionMismatch::responses(),
        ])
    }
}

/// Every read route: 400 [`BadParameter`], 401 [`Unauthorized`].
pub struct QueryProblems;

impl IntoResponses for QueryProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        merged([BadParameter::responses(), Unauthorized::responses()])
    }
}
