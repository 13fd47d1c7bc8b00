//! `@tollgate/react`: the provider, hooks and components over `@tollgate/sdk`'s browser client.

export { TollgateProvider, useTollgate, type TollgateProviderProps, type TollgateState } from "./context.js";
export { useUsage, usePlan, useCheckout, type UsageView, type PlanView, type CheckoutView } from "./hooks.js";
export { PricingTable, UsageMeter, Paywall, ProductGrid, formatPrice, type PricingTableProps, type PaywallProps, type ProductGridProps } from "./components.js";
