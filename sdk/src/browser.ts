//! The browser client: the publishable key plus the signed-in end user's token, refreshed before it expires.

import { InvalidEndUserTokenError } from "./errors.js";
import { followCheckout, type FollowOptions } from "./follow.js";
import { Transport, type RequestOptions, type TransportOptions } from "./transport.js";
import type { CartCheckout, CartCheckoutStarted, CheckoutStarted, CheckoutStatus, Download, Entitlement, EntitlementPage, Page, Product, Reconciled, Subscription, Tier, TrackAnswer, UsageAnswer } from "./types.js";
import { paginate } from "./paginate.js";

/**
 * An end-user token as your backend minted it (`tollgate.tokens.create`): pass its answer
 * through as it is. A bare string is taken as valid until the server refuses it.
 */
export type EndUserTokenGrant = string | { token: string; expiresAt: number };

/** Options of the browser client. */
export interface TollgateBrowserOptions extends TransportOptions {
  /** The project's publishable key (`pk_test_…`/`pk_live_…`); safe in a page. */
  publishableKey: string;
  /**
   * Asks your backend for a token for the signed-in end user. Called on first use, again
   * `refreshMarginMs` before the token's `expiresAt`, and once more if the server refuses it.
   * Leave it out for guest-only pages (catalog and guest carts).
   */
  getEndUserToken?: () => Promise<EndUserTokenGrant>;
  /** How long before expiry a token is replaced (default 60 s). */
  refreshMarginMs?: number;
}

/**
 * The browser client: meters, reads the plan and starts checkouts for the signed-in end
 * user only (the token names them; the publishable key cannot name anyone else).
 *
 * @example
 * const tollgate = new TollgateBrowser({
 *   publishableKey: "pk_test_…",
 *   baseUrl: "http://127.0.0.1:8787",
 *   getEndUserToken: () => fetch("/my-backend/tollgate-token").then((r) => r.json()),
 * });
 * const { usage } = await tollgate.usage.track();
 */
export class TollgateBrowser {
  /** @internal */
  readonly transport: Transport;
  /** @internal */
  readonly guestTransport: Transport;
  private token: { value: string; expiresAt: number } | undefined;
  private pending: Promise<string> | undefined;
  private readonly margin: number;

  /** A client for one project's publishable key; throws `TypeError` for anything but a `pk_…` key. */
  constructor(private readonly options: TollgateBrowserOptions) {
    if (!options.publishableKey?.startsWith("pk_")) throw new TypeError("publishableKey must be a publishable key (pk_…)");
    this.margin = options.refreshMarginMs ?? 60_000;
    const pk = { "X-Publishable-Key": options.publishableKey };
    this.guestTransport = new Transport(options, () => pk);
    this.transport = new Transport(options, async () => ({ ...pk, "X-End-User-Token": await this.currentToken() }));
  }

  /** The end user's token, fetched again when it is about to expire (one request at a time). */
  private currentToken(): Promise<string> {
    if (this.token && Date.now() < this.token.expiresAt - this.margin) return Promise.resolve(this.token.value);
    return this.refresh();
  }

  private refresh(): Promise<string> {
    const provider = this.options.getEndUserToken;
    if (!provider) return Promise.reject(new TypeError("this call needs an end user: pass getEndUserToken"));
    this.pending ??= provider()
      .then((grant) => {
        this.token = typeof grant === "string" ? { value: grant, expiresAt: Infinity } : { value: grant.token, expiresAt: grant.expiresAt };
        return this.token.value;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  /** Drops the cached token: the next call asks `getEndUserToken` again (call it on sign-out). */
  forgetToken(): void {
    this.token = undefined;
  }

  /** A call as the end user; a refused token is replaced once and the call sent again. */
  private async asUser<T>(call: Parameters<Transport["request"]>[0]): Promise<T> {
    try {
      return await this.transport.request<T>(call);
    } catch (error) {
      if (!(error instanceof InvalidEndUserTokenError) || !this.options.getEndUserToken) throw error;
      this.token = undefined;
      return this.transport.request<T>(call);
    }
  }

  /** The signed-in end user's usage. */
  readonly usage = {
    /** Counts `cost` units (default 1) for the signed-in end user (`POST /api/data`); `UsageLimitError` at the limit. */
    track: ({ cost, idempotencyKey }: { cost?: number; idempotencyKey?: string } = {}, options?: RequestOptions): Promise<TrackAnswer> =>
      this.asUser({ method: "POST", path: "/api/data", body: cost === undefined ? {} : { cost }, options: { ...options, idempotencyKey: idempotencyKey ?? options?.idempotencyKey } }),
    /** The signed-in end user's usage this period (`GET /api/usage`), counting nothing. */
    check: (options?: RequestOptions): Promise<UsageAnswer> => this.asUser({ method: "GET", path: "/api/usage", options }),
  };

  /** The public catalog (publishable key alone). */
  readonly catalog = {
    /** The project's tiers for a pricing page (`GET /api/tiers`). */
    tiers: (options?: RequestOptions): Promise<Tier[]> =>
      this.guestTransport.request<{ tiers: Tier[] }>({ method: "GET", path: "/api/tiers", options }).then((a) => a.tiers),
    /** The project's products for a storefront (`GET /api/products`). */
    products: (options?: RequestOptions): Promise<Product[]> =>
      this.guestTransport.request<{ products: Product[] }>({ method: "GET", path: "/api/products", options }).then((a) => a.products),
  };

  /** Checkouts of the signed-in end user (or a guest's cart). */
  readonly checkout = {
    /** A subscription checkout for a tier (`POST /api/create-checkout`); send the page to `url`. */
    subscription: (body: { tier: string; successUrl: string; cancelUrl: string }, options?: RequestOptions): Promise<CheckoutStarted> =>
      this.asUser({ method: "POST", path: "/api/create-checkout", body, options }),
    /**
     * A cart checkout (`POST /api/cart/checkout`): the signed-in end user's order, or a
     * guest's with `guest: true` (keep its `sessionSecret` in the page to follow it).
     */
    cart: ({ guest, ...body }: CartCheckout & { guest?: boolean }, options?: RequestOptions): Promise<CartCheckoutStarted> =>
      guest || !this.options.getEndUserToken
        ? this.guestTransport.request({ method: "POST", path: "/api/cart/checkout", body, options })
        : this.asUser({ method: "POST", path: "/api/cart/checkout", body, options }),
    /** The session's state (`GET /api/checkout/{id}`): full for its owner, `{sessionId, status, paid}` otherwise. */
    status: (sessionId: string, { checkoutSecret, ...options }: RequestOptions & { checkoutSecret?: string } = {}): Promise<CheckoutStatus> =>
      this.ownerTransport(checkoutSecret).request({ method: "GET", path: `/api/checkout/${encodeURIComponent(sessionId)}`, headers: secretHeader(checkoutSecret), options }),
    /** Applies a paid session now and answers the plan or the order (`POST …/reconcile`); for success pages. */
    reconcile: (sessionId: string, { checkoutSecret, ...options }: RequestOptions & { checkoutSecret?: string } = {}): Promise<Reconciled> =>
      this.ownerTransport(checkoutSecret)
        .request<{ data: Reconciled }>({ method: "POST", path: `/api/checkout/${encodeURIComponent(sessionId)}/reconcile`, headers: secretHeader(checkoutSecret), options })
        .then((a) => a.data),
    /**
     * Follows the session to its end over its event stream (fetch-read, so the key headers
     * travel), falling back to the status route; answers the final status. `paid` tells
     * whether the money is in.
     */
    follow: (sessionId: string, options: FollowOptions = {}): Promise<CheckoutStatus> =>
      followCheckout(this.ownerTransport(options.checkoutSecret), sessionId, options),
  };

  /** A billing portal session for the signed-in end user (`POST /api/customer-portal`). */
  portal({ returnUrl }: { returnUrl: string }, options?: RequestOptions): Promise<{ url: string }> {
    return this.asUser({ method: "POST", path: "/api/customer-portal", body: { returnUrl }, options });
  }

  /** The signed-in end user's subscription. */
  readonly subscription = {
    /** As last applied (`GET /api/subscription`); `NotFoundError` when there is none. */
    get: (options?: RequestOptions): Promise<Subscription> =>
      this.asUser<{ data: Subscription }>({ method: "GET", path: "/api/subscription", options }).then((a) => a.data),
    /** Cancels at the period's end (`POST /api/subscription/cancel`). */
    cancel: (options?: RequestOptions): Promise<Subscription> =>
      this.asUser<{ data: Subscription }>({ method: "POST", path: "/api/subscription/cancel", body: {}, options }).then((a) => a.data),
    /** Keeps a subscription set to cancel (`POST /api/subscription/resume`). */
    resume: (options?: RequestOptions): Promise<Subscription> =>
      this.asUser<{ data: Subscription }>({ method: "POST", path: "/api/subscription/resume", body: {}, options }).then((a) => a.data),
    /** Moves to another paid tier (`POST /api/subscription/change`). */
    change: ({ tier }: { tier: string }, options?: RequestOptions): Promise<Subscription> =>
      this.asUser<{ data: Subscription }>({ method: "POST", path: "/api/subscription/change", body: { tier }, options }).then((a) => a.data),
  };

  /** The signed-in end user's active entitlements. */
  readonly entitlements = {
    /** One page, newest first (`GET /api/entitlements`). */
    list: ({ page, pageSize }: { page?: number; pageSize?: number } = {}, options?: RequestOptions): Promise<EntitlementPage> =>
      this.asUser({ method: "GET", path: "/api/entitlements", query: { page, pageSize }, options }),
    /** Every one, page after page. */
    iterate: ({ pageSize }: { pageSize?: number } = {}, options?: RequestOptions): AsyncGenerator<Entitlement, void, undefined> =>
      paginate((page) => this.entitlements.list({ page, pageSize }, options) as Promise<Page<Entitlement>>),
  };

  /** A 5-minute download URL for a file the signed-in end user is entitled to (`POST /api/downloads`). */
  download(target: { productId: string } | { tierId: string } | { assetId: string }, options?: RequestOptions): Promise<Download> {
    return this.asUser<{ data: Download }>({ method: "POST", path: "/api/downloads", body: target, options }).then((a) => a.data);
  }

  private ownerTransport(checkoutSecret: string | undefined): Transport {
    return checkoutSecret || !this.options.getEndUserToken ? this.guestTransport : this.transport;
  }
}

const secretHeader = (secret: string | undefined) => (secret ? { "X-Checkout-Secret": secret } : {});
