//! The server client: everything a developer's backend calls with the project's secret key.

import { followCheckout, type FollowOptions } from "./follow.js";
import { paginate } from "./paginate.js";
import { Transport, type RequestOptions, type TransportOptions } from "./transport.js";
import type {
  CartCheckout,
  CartCheckoutStarted,
  CheckoutStarted,
  CheckoutStatus,
  CreateCustomer,
  Customer,
  CustomerDeleted,
  CustomerPage,
  Download,
  EndUserToken,
  Entitlement,
  EntitlementPage,
  KeyDashboard,
  KeyProject,
  Page,
  Reconciled,
  Subscription,
  Tier,
  Product,
  TrackAnswer,
  UpdateCustomer,
  UsageAnswer,
} from "./types.js";

/** Options of the server client. */
export interface TollgateOptions extends TransportOptions {
  /** The project's secret key (`sk_test_…` or `sk_live_…`). Keep it on your server. */
  secretKey: string;
}

/** An end user, by their `cus_…` id or your externalId. */
export interface ForUser {
  userId: string;
}

/** What a download link is for: exactly one of a product, a tier or an asset. */
export type DownloadTarget = { productId: string } | { tierId: string } | { assetId: string };

const seg = encodeURIComponent;
const user = (userId: string) => ({ "X-User-Id": userId });

/**
 * The server client. Every write carries an `Idempotency-Key` (yours, or one generated per
 * call) and is retried with backoff on network errors, 5xx and 429 under the same key.
 *
 * @example
 * const tollgate = new Tollgate({ secretKey: process.env.TOLLGATE_SECRET_KEY!, baseUrl: "http://127.0.0.1:8787" });
 * const { usage } = await tollgate.usage.track({ userId: "user_42" });
 */
export class Tollgate {
  /** @internal */
  readonly transport: Transport;

  /** A client for one project's secret key; throws `TypeError` for anything but an `sk_…` key. */
  constructor(options: TollgateOptions) {
    if (!options.secretKey?.startsWith("sk_")) throw new TypeError("secretKey must be a secret key (sk_…)");
    const auth = { Authorization: `Bearer ${options.secretKey}` };
    this.transport = new Transport(options, () => auth);
  }

  /** Which project the key speaks for: `GET /api/project`. */
  project(options?: RequestOptions): Promise<KeyProject> {
    return this.transport.request<{ data: KeyProject }>({ method: "GET", path: "/api/project", options }).then((a) => a.data);
  }

  /** The project's end users. */
  readonly customers = {
    /** Creates an end user (`POST /api/customers`). Not deduplicated by the server, so retried only when it surely did nothing. */
    create: (body: CreateCustomer, options?: RequestOptions): Promise<Customer> =>
      this.transport
        .request<{ data: Customer }>({ method: "POST", path: "/api/customers", body, replay: "unsafe", options })
        .then((a) => a.data),
    /** One end user by `cus_…` id or externalId (`GET /api/customers/{id}`). */
    get: (id: string, options?: RequestOptions): Promise<Customer> =>
      this.transport.request<{ data: Customer }>({ method: "GET", path: `/api/customers/${seg(id)}`, options }).then((a) => a.data),
    /** Changes email, names or assigned plan (`PATCH /api/customers/{id}`); a plan change never resets usage. */
    update: (id: string, body: UpdateCustomer, options?: RequestOptions): Promise<Customer> =>
      this.transport
        .request<{ data: Customer }>({ method: "PATCH", path: `/api/customers/${seg(id)}`, body, options })
        .then((a) => a.data),
    /** Deletes an end user (`DELETE /api/customers/{id}`): usage and tokens go, billing records stay. */
    delete: (id: string, options?: RequestOptions): Promise<CustomerDeleted["data"]> =>
      this.transport
        .request<CustomerDeleted>({ method: "DELETE", path: `/api/customers/${seg(id)}`, replay: "unsafe", options })
        .then((a) => a.data),
    /** One page of end users, oldest first (`GET /api/customers`). */
    list: (params: { page?: number; pageSize?: number; email?: string } = {}, options?: RequestOptions): Promise<CustomerPage> =>
      this.transport.request<CustomerPage>({ method: "GET", path: "/api/customers", query: params, options }),
    /**
     * Every end user, page after page: `for await (const c of tollgate.customers.iterate()) …`.
     * Pages are fetched as the loop reaches them.
     */
    iterate: (params: { pageSize?: number; email?: string } = {}, options?: RequestOptions): AsyncGenerator<Customer, void, undefined> =>
      paginate((page) => this.customers.list({ ...params, page }, options) as Promise<Page<Customer>>),
  };

  /** Metering. */
  readonly usage = {
    /**
     * Counts `cost` units (default 1) for the end user (`POST /api/data`). At the limit it
     * throws `UsageLimitError` (429 `usage_limit_reached`, never retried). The same
     * `idempotencyKey` never counts twice.
     */
    track: ({ userId, cost, idempotencyKey }: ForUser & { cost?: number; idempotencyKey?: string }, options?: RequestOptions): Promise<TrackAnswer> =>
      this.transport.request<TrackAnswer>({
        method: "POST",
        path: "/api/data",
        headers: user(userId),
        body: cost === undefined ? {} : { cost },
        options: { ...options, idempotencyKey: idempotencyKey ?? options?.idempotencyKey },
      }),
    /** The end user's usage this period without counting anything (`GET /api/usage`). */
    check: ({ userId }: ForUser, options?: RequestOptions): Promise<UsageAnswer> =>
      this.transport.request<UsageAnswer>({ method: "GET", path: "/api/usage", headers: user(userId), options }),
  };

  /** End-user tokens for browsers. */
  readonly tokens = {
    /**
     * Mints a token for one end user's browser (`POST /api/customer-token`), valid
     * `expiresIn` seconds (at most and by default 3600). Answers `{ token, customerId, expiresAt }` (ms).
     */
    create: ({ userId, expiresIn }: ForUser & { expiresIn?: number }, options?: RequestOptions): Promise<EndUserToken> =>
      this.transport
        .request<{ data: EndUserToken }>({ method: "POST", path: "/api/customer-token", body: { userId, expiresIn }, options })
        .then((a) => a.data),
  };

  /** The public catalog, as a pricing page or storefront reads it. */
  readonly catalog = {
    /** The project's tiers (`GET /api/tiers`). */
    tiers: (options?: RequestOptions): Promise<Tier[]> =>
      this.transport.request<{ tiers: Tier[] }>({ method: "GET", path: "/api/tiers", options }).then((a) => a.tiers),
    /** The project's products (`GET /api/products`). */
    products: (options?: RequestOptions): Promise<Product[]> =>
      this.transport.request<{ products: Product[] }>({ method: "GET", path: "/api/products", options }).then((a) => a.products),
  };

  /** Checkouts: subscriptions and carts, their status, reconcile and the live stream. */
  readonly checkout = {
    /** A Stripe Checkout for a tier's subscription (`POST /api/create-checkout`); send the buyer to `url`. */
    subscription: (
      { userId, ...body }: ForUser & { tier: string; successUrl: string; cancelUrl: string; priceId?: string },
      options?: RequestOptions,
    ): Promise<CheckoutStarted> =>
      this.transport.request<CheckoutStarted>({ method: "POST", path: "/api/create-checkout", headers: user(userId), body, options }),
    /**
     * A Stripe Checkout for a Store cart, its stock reserved (`POST /api/cart/checkout`). With
     * `userId` the order is that end user's. Throws `SoldOutError` naming the products short.
     */
    cart: ({ userId, ...body }: Partial<ForUser> & CartCheckout, options?: RequestOptions): Promise<CartCheckoutStarted> =>
      this.transport.request<CartCheckoutStarted>({
        method: "POST",
        path: "/api/cart/checkout",
        headers: userId === undefined ? {} : user(userId),
        body,
        options,
      }),
    /** The session's state (`GET /api/checkout/{sessionId}`); Stripe is asked while it is open. */
    status: (sessionId: string, options?: RequestOptions): Promise<CheckoutStatus> =>
      this.transport.request<CheckoutStatus>({ method: "GET", path: `/api/checkout/${seg(sessionId)}`, options }),
    /** Applies a paid session now, once, and answers the final entitlement state (`POST …/reconcile`). */
    reconcile: (sessionId: string, options?: RequestOptions): Promise<Reconciled> =>
      this.transport
        .request<{ data: Reconciled }>({ method: "POST", path: `/api/checkout/${seg(sessionId)}/reconcile`, options })
        .then((a) => a.data),
    /** Waits on the session's event stream until it is complete, expired or failed; answers the final status. */
    follow: (sessionId: string, options?: FollowOptions): Promise<CheckoutStatus> => followCheckout(this.transport, sessionId, options),
  };

  /** A Stripe billing portal session for the end user (`POST /api/customer-portal`); send them to `url`. */
  portal({ userId, returnUrl }: ForUser & { returnUrl: string }, options?: RequestOptions): Promise<{ url: string }> {
    return this.transport.request({ method: "POST", path: "/api/customer-portal", headers: user(userId), body: { returnUrl }, options });
  }

  /** The end user's subscription; the plan itself follows Stripe's webhook. */
  readonly subscription = {
    /** As last applied from Stripe (`GET /api/subscription`); `NotFoundError` (`no_subscription`) when none. */
    get: ({ userId }: ForUser, options?: RequestOptions): Promise<Subscription> =>
      this.transport.request<{ data: Subscription }>({ method: "GET", path: "/api/subscription", headers: user(userId), options }).then((a) => a.data),
    /** Cancels at the period's end, or now with `immediately` (`POST /api/subscription/cancel`). */
    cancel: ({ userId, immediately }: ForUser & { immediately?: boolean }, options?: RequestOptions): Promise<Subscription> =>
      this.transport
        .request<{ data: Subscription }>({ method: "POST", path: "/api/subscription/cancel", headers: user(userId), body: { immediately }, options })
        .then((a) => a.data),
    /** Keeps a subscription that was set to cancel (`POST /api/subscription/resume`). */
    resume: ({ userId }: ForUser, options?: RequestOptions): Promise<Subscription> =>
      this.transport
        .request<{ data: Subscription }>({ method: "POST", path: "/api/subscription/resume", headers: user(userId), body: {}, options })
        .then((a) => a.data),
    /** Moves it to another paid tier (`POST /api/subscription/change`); `change` says when it takes effect. */
    change: ({ userId, tier }: ForUser & { tier: string }, options?: RequestOptions): Promise<Subscription> =>
      this.transport
        .request<{ data: Subscription }>({ method: "POST", path: "/api/subscription/change", headers: user(userId), body: { tier }, options })
        .then((a) => a.data),
  };

  /** What end users may download. */
  readonly entitlements = {
    /** One page of the end user's active entitlements, newest first (`GET /api/entitlements`). */
    list: ({ userId, page, pageSize }: ForUser & { page?: number; pageSize?: number }, options?: RequestOptions): Promise<EntitlementPage> =>
      this.transport.request<EntitlementPage>({ method: "GET", path: "/api/entitlements", headers: user(userId), query: { page, pageSize }, options }),
    /** Every active entitlement of the end user, page after page. */
    iterate: ({ userId, pageSize }: ForUser & { pageSize?: number }, options?: RequestOptions): AsyncGenerator<Entitlement, void, undefined> =>
      paginate((page) => this.entitlements.list({ userId, page, pageSize }, options) as Promise<Page<Entitlement>>),
    /** Revokes an order entitlement (`POST /api/entitlements/{id}/revoke`); issued links stop at once. */
    revoke: (id: string, options?: RequestOptions): Promise<Entitlement> =>
      this.transport
        .request<{ data: Entitlement }>({ method: "POST", path: `/api/entitlements/${seg(id)}/revoke`, replay: "unsafe", options })
        .then((a) => a.data),
  };

  /** A 5-minute download URL for a file the end user is entitled to (`POST /api/downloads`). */
  download({ userId, ...target }: ForUser & DownloadTarget, options?: RequestOptions): Promise<Download> {
    return this.transport
      .request<{ data: Download }>({ method: "POST", path: "/api/downloads", headers: user(userId), body: target, options })
      .then((a) => a.data);
  }

  /** The project's dashboard (`GET /api/dashboard`): ours in `data`, dream-api's fields beside it. */
  dashboard(options?: RequestOptions): Promise<KeyDashboard> {
    return this.transport.request<KeyDashboard>({ method: "GET", path: "/api/dashboard", options });
  }
}
