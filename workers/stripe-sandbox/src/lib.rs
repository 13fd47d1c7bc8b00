//! The `stripe-sandbox` worker: a Stripe-compatible subset of Stripe's REST API, Connect
//! OAuth and hosted pages, for local runs and tests; never deployed to production.
//!
//! It answers the official Stripe libraries as Stripe would (form-encoded requests, JSON and
//! Stripe's error shape, `Idempotency-Key`, `Stripe-Account`), keeps its state in its own D1
//! database, and signs and delivers webhook events before each call answers. With
//! `ENVIRONMENT=development` it also serves test controls under `/_sandbox/…`. See
//! `docs/stripe-sandbox.md` for what it covers and what it deliberately does not.
//!
//! Layout: `model` holds the pure rules (no `worker`), `call` the flow of an API call,
//! `store` the database, `delivery` the webhooks; the rest are the routes.

// The Stripe objects are large `json!` literals; the default limit (128) is too small for them.
#![recursion_limit = "256"]

mod call;
mod checkout;
mod connect;
mod controls;
mod delivery;
mod hooks;
mod http;
mod model;
mod pages;
mod refunds;
mod resources;
mod store;
mod subscriptions;

use call::{Call, Outcome};
use http::Fail;
use model::params::Params;
use tollgate::{Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, serve};
use worker::{Context, Env, Request, Response, event};

/// The Stripe API operations (secret-key calls answered in Stripe's JSON), including the
/// development test controls, which authenticate the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    CreateCustomer,
    ListCustomers,
    GetCustomer,
    UpdateCustomer,
    CreateProduct,
    ListProducts,
    GetProduct,
    UpdateProduct,
    CreatePrice,
    ListPrices,
    GetPrice,
    UpdatePrice,
    CreateSession,
    ListSessions,
    GetSession,
    SessionLineItems,
    ExpireSession,
    ListSubscriptions,
    GetSubscription,
    UpdateSubscription,
    CancelSubscription,
    ListInvoices,
    GetInvoice,
    PayInvoice,
    GetPaymentIntent,
    ListCharges,
    GetCharge,
    CreateRefund,
    GetRefund,
    GetDispute,
    CreatePortalSession,
    CreateEndpoint,
    ListEndpoints,
    GetEndpoint,
    DeleteEndpoint,
    ListEvents,
    GetEvent,
    /// A `/v1/…` path the sandbox does not serve: Stripe's 404.
    Unrecognized,
    Control(controls::Control),
}

impl Op {
    fn is_control(self) -> bool {
        matches!(self, Self::Control(_))
    }
}

/// Every route of the worker.
#[derive(Clone, Copy, Debug)]
enum Sandbox {
    Api(Op),
    Connect(connect::Connect),
    Page(pages::Page),
}

const fn api(method: Method, pattern: &'static str, op: Op) -> Route<Sandbox> {
    Route::new(method, pattern, Sandbox::Api(op))
}

const ROUTES: &[Route<Sandbox>] = &[
    api(Method::Post, "/v1/customers", Op::CreateCustomer),
    api(Method::Get, "/v1/customers", Op::ListCustomers),
    api(Method::Get, "/v1/customers/{id}", Op::GetCustomer),
    api(Method::Post, "/v1/customers/{id}", Op::UpdateCustomer),
    api(Method::Post, "/v1/products", Op::CreateProduct),
    api(Method::Get, "/v1/products", Op::ListProducts),
    api(Method::Get, "/v1/products/{id}", Op::GetProduct),
    api(Method::Post, "/v1/products/{id}", Op::UpdateProduct),
    api(Method::Post, "/v1/prices", Op::CreatePrice),
    api(Method::Get, "/v1/prices", Op::ListPrices),
    api(Method::Get, "/v1/prices/{id}", Op::GetPrice),
    api(Method::Post, "/v1/prices/{id}", Op::UpdatePrice),
    api(Method::Post, "/v1/checkout/sessions", Op::CreateSession),
    api(Method::Get, "/v1/checkout/sessions", Op::ListSessions),
    api(Method::Get, "/v1/checkout/sessions/{id}", Op::GetSession),
    api(
        Method::Get,
        "/v1/checkout/sessions/{id}/line_items",
        Op::SessionLineItems,
    ),
    api(
        Method::Post,
        "/v1/checkout/sessions/{id}/expire",
        Op::ExpireSession,
    ),
    api(Method::Get, "/v1/subscriptions", Op::ListSubscriptions),
    api(Method::Get, "/v1/subscriptions/{id}", Op::GetSubscription),
    api(
        Method::Post,
        "/v1/subscriptions/{id}",
        Op::UpdateSubscription,
    ),
    api(
        Method::Delete,
        "/v1/subscriptions/{id}",
        Op::CancelSubscription,
    ),
    api(Method::Get, "/v1/invoices", Op::ListInvoices),
    api(Method::Get, "/v1/invoices/{id}", Op::GetInvoice),
    api(Method::Post, "/v1/invoices/{id}/pay", Op::PayInvoice),
    api(
        Method::Get,
        "/v1/payment_intents/{id}",
        Op::GetPaymentIntent,
    ),
    api(Method::Get, "/v1/charges", Op::ListCharges),
    api(Method::Get, "/v1/charges/{id}", Op::GetCharge),
    api(Method::Post, "/v1/refunds", Op::CreateRefund),
    api(Method::Get, "/v1/refunds/{id}", Op::GetRefund),
    api(Method::Get, "/v1/disputes/{id}", Op::GetDispute),
    api(
        Method::Post,
        "/v1/billing_portal/sessions",
        Op::CreatePortalSession,
    ),
    api(Method::Post, "/v1/webhook_endpoints", Op::CreateEndpoint),
    api(Method::Get, "/v1/webhook_endpoints", Op::ListEndpoints),
    api(Method::Get, "/v1/webhook_endpoints/{id}", Op::GetEndpoint),
    api(
        Method::Delete,
        "/v1/webhook_endpoints/{id}",
        Op::DeleteEndpoint,
    ),
    api(Method::Get, "/v1/events", Op::ListEvents),
    api(Method::Get, "/v1/events/{id}", Op::GetEvent),
    Route::new(
        Method::Get,
        "/oauth/authorize",
        Sandbox::Connect(connect::Connect::AuthorizePage),
    ),
    Route::new(
        Method::Post,
        "/oauth/authorize",
        Sandbox::Connect(connect::Connect::Decide),
    ),
    Route::new(
        Method::Post,
        "/oauth/token",
        Sandbox::Connect(connect::Connect::Token),
    ),
    Route::new(
        Method::Post,
        "/oauth/deauthorize",
        Sandbox::Connect(connect::Connect::Deauthorize),
    ),
    Route::new(
        Method::Get,
        "/pay/{id}",
        Sandbox::Page(pages::Page::Checkout),
    ),
    Route::new(
        Method::Post,
        "/pay/{id}",
        Sandbox::Page(pages::Page::CheckoutAction),
    ),
    Route::new(
        Method::Get,
        "/portal/{id}",
        Sandbox::Page(pages::Page::Portal),
    ),
    Route::new(
        Method::Post,
        "/portal/{id}/subscriptions/{sub}/{action}",
        Sandbox::Page(pages::Page::PortalAction),
    ),
    // Last: any other `/v1/…` path answers Stripe's "Unrecognized request URL" (first match
    // wins, so these never shadow the routes above).
    api(Method::Get, "/v1/{a}", Op::Unrecognized),
    api(Method::Get, "/v1/{a}/{b}", Op::Unrecognized),
    api(Method::Get, "/v1/{a}/{b}/{c}", Op::Unrecognized),
    api(Method::Get, "/v1/{a}/{b}/{c}/{d}", Op::Unrecognized),
    api(Method::Post, "/v1/{a}", Op::Unrecognized),
    api(Method::Post, "/v1/{a}/{b}", Op::Unrecognized),
    api(Method::Post, "/v1/{a}/{b}/{c}", Op::Unrecognized),
    api(Method::Post, "/v1/{a}/{b}/{c}/{d}", Op::Unrecognized),
    api(Method::Delete, "/v1/{a}", Op::Unrecognized),
    api(Method::Delete, "/v1/{a}/{b}", Op::Unrecognized),
    api(Method::Delete, "/v1/{a}/{b}/{c}", Op::Unrecognized),
];

/// Test controls, only with `ENVIRONMENT=development`.
const DEV_ROUTES: &[Route<Sandbox>] = &[
    api(
        Method::Post,
        "/_sandbox/checkout/sessions/{id}/complete",
        Op::Control(controls::Control::CompleteSession),
    ),
    api(
        Method::Post,
        "/_sandbox/checkout/sessions/{id}/expire",
        Op::Control(controls::Control::ExpireSession),
    ),
    api(
        Method::Post,
        "/_sandbox/checkout/sessions/{id}/succeed_payment",
        Op::Control(controls::Control::SucceedPayment),
    ),
    api(
        Method::Post,
        "/_sandbox/checkout/sessions/{id}/fail_payment",
        Op::Control(controls::Control::FailPayment),
    ),
    api(
        Method::Post,
        "/_sandbox/subscriptions/{id}/advance",
        Op::Control(controls::Control::Advance),
    ),
    api(
        Method::Post,
        "/_sandbox/subscriptions/{id}/fail_renewal",
        Op::Control(controls::Control::FailRenewal),
    ),
    api(
        Method::Post,
        "/_sandbox/charges/{id}/dispute",
        Op::Control(controls::Control::OpenDispute),
    ),
    api(
        Method::Post,
        "/_sandbox/disputes/{id}/close",
        Op::Control(controls::Control::CloseDispute),
    ),
    api(
        Method::Post,
        "/_sandbox/subscriptions/{id}/fail_next_payment",
        Op::Control(controls::Control::FailNextPayment),
    ),
    api(
        Method::Post,
        "/_sandbox/events/{id}/replay",
        Op::Control(controls::Control::Replay),
    ),
    api(
        Method::Get,
        "/_sandbox/events/{id}/deliveries",
        Op::Control(controls::Control::Deliveries),
    ),
    api(
        Method::Post,
        "/_sandbox/faults",
        Op::Control(controls::Control::AddFault),
    ),
    api(
        Method::Delete,
        "/_sandbox/faults",
        Op::Control(controls::Control::ClearFaults),
    ),
];

const SPEC: WorkerSpec<Sandbox> = WorkerSpec {
    name: "stripe-sandbox",
    version: env!("CARGO_PKG_VERSION"),
    routes: ROUTES,
    dev_routes: DEV_ROUTES,
    health: HealthProbe::Alive,
    cors: Cors::Closed,
};

/// Runs one API operation (step 5 of [`call`]).
async fn dispatch(op: Op, call: &Call, p: Params) -> Result<Outcome, Fail> {
    match op {
        Op::CreateCustomer => resources::create_customer(call, p).await,
        Op::ListCustomers => resources::list_customers(call, p).await,
        Op::GetCustomer => resources::get(call, p, "customer").await,
        Op::UpdateCustomer => resources::update_customer(call, p).await,
        Op::CreateProduct => resources::create_product(call, p).await,
        Op::ListProducts => resources::list_products(call, p).await,
        Op::GetProduct => resources::get(call, p, "product").await,
        Op::UpdateProduct => resources::update_product(call, p).await,
        Op::CreatePrice => resources::create_price(call, p).await,
        Op::ListPrices => resources::list_prices(call, p).await,
        Op::GetPrice => resources::get(call, p, "price").await,
        Op::UpdatePrice => resources::update_price(call, p).await,
        Op::CreateSession => checkout::create(call, p).await,
        Op::ListSessions => checkout::list(call, p).await,
        Op::GetSession => checkout::retrieve(call, p).await,
        Op::SessionLineItems => checkout::line_items(call, p).await,
        Op::ExpireSession => checkout::expire(call, p).await,
        Op::ListSubscriptions => subscriptions::list(call, p).await,
        Op::GetSubscription => subscriptions::retrieve(call, p).await,
        Op::UpdateSubscription => subscriptions::update(call, p).await,
        Op::CancelSubscription => subscriptions::cancel(call, p).await,
        Op::ListInvoices => subscriptions::list_invoices(call, p).await,
        Op::GetInvoice => resources::get(call, p, "invoice").await,
        Op::PayInvoice => subscriptions::pay_invoice(call, p).await,
        Op::GetPaymentIntent => resources::get(call, p, "payment_intent").await,
        Op::ListCharges => resources::list_charges(call, p).await,
        Op::GetCharge => resources::get(call, p, "charge").await,
        Op::CreateRefund => refunds::create_refund(call, p).await,
        Op::GetRefund => resources::get(call, p, "refund").await,
        Op::GetDispute => resources::get(call, p, "dispute").await,
        Op::CreatePortalSession => pages::create_portal_session(call, p).await,
        Op::CreateEndpoint => hooks::create_endpoint(call, p).await,
        Op::ListEndpoints => hooks::list_endpoints(call, p).await,
        Op::GetEndpoint => resources::get(call, p, "webhook_endpoint").await,
        Op::DeleteEndpoint => hooks::delete_endpoint(call, p).await,
        Op::ListEvents => hooks::list_events(call, p).await,
        Op::GetEvent => resources::get(call, p, "event").await,
        Op::Control(control) => controls::run(control, call, p).await,
        Op::Unrecognized => Err(Fail::Internal(
            "unrecognized paths answer before dispatch".into(),
        )),
    }
}

async fn handle(route: Sandbox, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Sandbox::Api(op) => call::serve(op, ctx).await,
        Sandbox::Connect(step) => connect::serve(step, ctx).await,
        Sandbox::Page(page) => pages::serve(page, ctx).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}
