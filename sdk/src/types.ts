//! Names for the contract's shapes the clients take and answer, all derived from the generated `openapi.ts`.

import type { components, operations } from "./openapi.js";

type Schemas = components["schemas"];
type JsonOf<R> = R extends { content: { "application/json": infer B } } ? B : never;
/** The JSON body of an operation's success answer. */
export type Answer<K extends keyof operations> = operations[K]["responses"] extends infer R
  ? R extends { 200: infer A }
    ? JsonOf<A>
    : R extends { 201: infer A }
      ? JsonOf<A>
      : R extends { 202: infer A }
        ? JsonOf<A>
        : never
  : never;
/** The JSON request body of an operation. */
export type Body<K extends keyof operations> = operations[K] extends { requestBody?: { content: { "application/json": infer B } } }
  ? B
  : never;

export type Usage = Schemas["Usage"];
export type Customer = Schemas["Customer"];
export type Tier = Schemas["Tier"];
export type Product = Schemas["Product"];
export type Entitlement = Schemas["Entitlement"];
export type Dashboard = Schemas["Dashboard"];
export type CheckoutStarted = Schemas["CheckoutStarted"];
export type SubscriptionAnswer = Schemas["SubscriptionAnswer"];
export type Subscription = SubscriptionAnswer["data"];
export type OrderStatus = Schemas["OrderStatus"];

export type TrackAnswer = Answer<"trackUsage">;
export type UsageAnswer = Answer<"getUsage">;
export type CustomerAnswer = Answer<"getCustomer">;
export type CustomerPage = Answer<"listCustomers">;
export type CreateCustomer = Body<"createCustomer">;
export type UpdateCustomer = NonNullable<Body<"updateCustomer">>;
export type CustomerDeleted = Answer<"deleteCustomer">;
export type EndUserToken = Answer<"mintCustomerToken">["data"];
export type CartCheckout = Body<"cartCheckout">;
export type CartCheckoutStarted = Answer<"cartCheckout">;
export type CheckoutStatus = Answer<"checkoutStatus">;
export type Reconciled = Answer<"reconcileCheckout">["data"];
export type EntitlementPage = Answer<"listEntitlements">;
export type Download = Answer<"issueDownload">["data"];
export type KeyDashboard = Answer<"getKeyDashboard">;
export type KeyProject = Answer<"getKeyProject">["data"];
/** A checkout session's state as the status route and the event stream name it. */
export type CheckoutState = CheckoutStatus["status"];

/** What one page of a list answers. */
export interface Page<T> {
  data: T[];
  total: number;
  page: number;
  pageSize: number;
}

/** The states a checkout does not leave on its own. */
export const FINAL_CHECKOUT_STATES: readonly CheckoutState[] = ["complete", "expired", "failed"];
