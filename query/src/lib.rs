//! The read API of the mini-program: customer lists and search, detail,
//! timeline, RFM profile, sales funnel and lifecycle segments, served from the
//! projectors' read models with rep/manager/tenant visibility.
#![forbid(unsafe_code)]

mod api;
pub mod audit;
mod cache;
mod cursor;
mod customers;
mod directory;
mod follow_ups;
mod freshness;
mod funnel;
mod params;
mod settings;
pub mod stream;
mod visibility;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use api::QueryApi;
pub use cache::{CacheSettings, ReadCache, CACHE_HEADER};
pub use freshness::STALE_HEADER;

pub fn router(api: QueryApi) -> OpenApiRouter {
    let cached = OpenApiRouter::new()
        .routes(routes!(customers::list::list_customers))
        .routes(routes!(customers::detail::get_customer))
        .routes(routes!(customers::timeline::get_timeline))
        .routes(routes!(customers::detail::get_profile))
        .routes(routes!(funnel::get_funnel))
        .routes(routes!(funnel::get_segments))
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            cache::serve_cached::<QueryApi>,
        ));
    OpenApiRouter::new()
        .merge(cached)
        .routes(routes!(audit::history))
        .routes(routes!(audit::state))
        .routes(routes!(audit::verify))
        .routes(routes!(stream::get_events))
        .routes(routes!(directory::users::list_users))
        .routes(routes!(directory::users::get_user))
        .routes(routes!(directory::teams::list_teams))
        .routes(routes!(directory::teams::get_team))
        .routes(routes!(directory::me::get_me))
        .routes(routes!(follow_ups::list_follow_ups))
        .routes(routes!(follow_ups::count_follow_ups))
        .routes(routes!(follow_ups::get_follow_up))
        .routes(routes!(settings::get_settings))
        .with_state(api)
}
