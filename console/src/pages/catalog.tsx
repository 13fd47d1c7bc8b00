//! Catalog: SaaS tiers or Store products (create, edit with the stale-state guard, archive),
//! the project mode's Stripe connection, and Go live (a preview, then promote).
import { useState } from "react";
import { Link } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApp } from "../app";
import { idempotencyKey, ok } from "../api/client";
import type { components } from "../api/schema";
import { keys, useConnections, type Project } from "../queries";
import { useCurrentProject } from "./project";
import { StripeConnection } from "./stripe";
import { Badge, ConfirmButton, Empty, ErrorNote, QueryView, SecretReveal } from "../ui/common";
import { formatCount, formatMoney, lines, moneyInput, parseMoney } from "../lib/format";

type Tier = components["schemas"]["CatalogTier"];
type Product = components["schemas"]["CatalogProduct"];
type Item = Tier | Product;

export function CatalogPage() {
  const project = useCurrentProject();
  return (
    <>
      <StripeConnection mode={project.mode} />
      <CatalogItems project={project} />
      {project.mode === "test" && <GoLive project={project} />}
    </>
  );
}

function useCatalog(project: Project) {
  const { api } = useApp();
  const kind = project.type === "saas" ? "tiers" : "products";
  return useQuery({
    queryKey: keys.projectScoped(project.id, kind),
    queryFn: async (): Promise<Item[]> =>
      project.type === "saas"
        ? (await ok(api.catalog.GET("/v1/projects/{id}/tiers", { params: { path: { id: project.id }, query: { pageSize: 100 } } }))).data
        : (await ok(api.catalog.GET("/v1/projects/{id}/products", { params: { path: { id: project.id }, query: { pageSize: 100 } } }))).data,
  });
}

function isTier(item: Item): item is Tier {
  return "interval" in item;
}

function CatalogItems({ project }: { project: Project }) {
  const { api } = useApp();
  const queryClient = useQueryClient();
  const list = useCatalog(project);
  const [editing, setEditing] = useState<Item | "new" | null>(null);
  const noun = project.type === "saas" ? "tier" : "product";
  const kind = project.type === "saas" ? "tiers" : "products";
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.projectScoped(project.id, kind) });
  const archive = useMutation({
    mutationFn: (item: Item): Promise<unknown> =>
      project.type === "saas"
        ? ok(api.catalog.POST("/v1/projects/{id}/tiers/{itemId}/archive", { params: { path: { id: project.id, itemId: item.id } }, body: { updatedAt: item.updatedAt } }))
        : ok(api.catalog.POST("/v1/projects/{id}/products/{itemId}/archive", { params: { path: { id: project.id, itemId: item.id } }, body: { updatedAt: item.updatedAt } })),
    onSuccess: () => void refresh(),
  });

  return (
    <section className="panel" aria-labelledby="catalog-title">
      <h2 id="catalog-title">{project.type === "saas" ? "Tiers" : "Products"}</h2>
      <QueryView query={list} what={kind}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No {kind} yet. {project.type === "saas" ? "Start with a free tier (price 0): every end user begins there." : "Add your first product."}</Empty>
          ) : (
            <div className="table-wrap" tabIndex={0}>
              <table aria-label={kind}>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Price</th>
                    <th scope="col">{project.type === "saas" ? "Limit" : "Inventory"}</th>
                    <th scope="col">Status</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((item) => (
                    <tr key={item.id} data-name={item.name}>
                      <td>
                        <strong>{item.displayName}</strong> <code className="small">{item.name}</code>
                        {isTier(item) && item.popular && <Badge kind="popular">popular</Badge>}
                      </td>
                      <td>
                        {item.price === 0 ? "Free" : formatMoney(item.price, item.currency)}
                        {isTier(item) && item.price > 0 && ` / ${item.interval}`}
                        {isTier(item) && item.trialDays > 0 && <span className="muted small"> · {item.trialDays}-day trial</span>}
                      </td>
                      <td>{isTier(item) ? (item.limit === "unlimited" ? "Unlimited" : formatCount(item.limit as number)) : item.inventory === null ? "Unlimited" : `${formatCount((item as Product).inventory!)} left`}</td>
                      <td>{item.archivedAt ? <Badge kind="archived">archived</Badge> : <Badge kind="active">on sale</Badge>}</td>
                      <td className="row-actions">
                        {!item.archivedAt && (
                          <>
                            <button type="button" aria-label={`Edit ${item.name}`} onClick={() => setEditing(item)}>
                              Edit
                            </button>
                            {!(isTier(item) && item.isFree) && (
                              <ConfirmButton
                                label={`Archive ${item.name}`}
                                text="Archive"
                                confirmLabel="Archive"
                                question="No new sales; existing buyers keep it."
                                busy={archive.isPending}
                                onConfirm={() => archive.mutate(item)}
                              />
                            )}
                          </>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
      {archive.error && <ErrorNote error={archive.error} onReload={() => void refresh()} />}
      {editing === null ? (
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          Add a {noun}
        </button>
      ) : (
        <ItemForm
          key={editing === "new" ? "new" : `${editing.id}-${editing.updatedAt}`}
          project={project}
          item={editing === "new" ? null : editing}
          onDone={() => {
            setEditing(null);
            void refresh();
          }}
          onReload={async () => {
            const fresh = await list.refetch();
            const again = fresh.data?.find((i) => editing !== "new" && i.id === editing.id);
            setEditing(again ?? null);
          }}
        />
      )}
    </section>
  );
}

interface Draft {
  name: string;
  displayName: string;
  description: string;
  price: string;
  currency: string;
  interval: "month" | "year";
  unlimited: boolean;
  limit: string;
  features: string;
  popular: boolean;
  trialDays: string;
  inventory: string;
  imageUrl: string;
  assetId: string | null;
}

function draftOf(item: Item | null): Draft {
  const currency = item?.currency ?? "usd";
  return {
    name: item?.name ?? "",
    displayName: item?.displayName ?? "",
    description: item?.description ?? "",
    price: item ? moneyInput(item.price, currency) : "0",
    currency,
    interval: item && isTier(item) ? item.interval : "month",
    unlimited: item && isTier(item) ? item.limit === "unlimited" : false,
    limit: item && isTier(item) && item.limit !== "unlimited" ? String(item.limit) : "1000",
    features: item?.features.join("\n") ?? "",
    popular: item && isTier(item) ? item.popular : false,
    trialDays: item && isTier(item) ? String(item.trialDays) : "0",
    inventory: item && !isTier(item) && item.inventory !== null ? String(item.inventory) : "",
    imageUrl: item?.imageUrl ?? "",
    assetId: item?.assetId ?? null,
  };
}

function ItemForm({ project, item, onDone, onReload }: { project: Project; item: Item | null; onDone: () => void; onReload: () => void }) {
  const { api } = useApp();
  const [d, setD] = useState<Draft>(() => draftOf(item));
  const [localError, setLocalError] = useState<string | null>(null);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((prev) => ({ ...prev, [k]: v }));
  const saas = project.type === "saas";

  const upload = useMutation({
    mutationFn: async ({ file, visibility }: { file: File; visibility: "public" | "private" }) =>
      (
        await ok(
          api.platform.POST("/v1/projects/{id}/assets", {
            params: { path: { id: project.id }, query: { filename: file.name, visibility }, header: { "Idempotency-Key": idempotencyKey() } },
            body: file as unknown as string,
            bodySerializer: (b: unknown) => b as Blob,
            headers: { "Content-Type": "application/octet-stream" },
          }),
        )
      ).data,
    onSuccess: (asset) => (asset.visibility === "public" ? set("imageUrl", asset.url ?? "") : set("assetId", asset.id)),
  });

  const save = useMutation({
    mutationFn: async () => {
      const price = parseMoney(d.price, d.currency);
      if (price === null) throw new Error("The price is not an amount (like 19 or 19.00).");
      const common = {
        displayName: d.displayName.trim(),
        description: d.description.trim() || null,
        price,
        currency: d.currency.trim().toLowerCase(),
        features: lines(d.features),
        imageUrl: d.imageUrl.trim() || null,
        assetId: d.assetId,
      };
      if (saas) {
        const tier = {
          ...common,
          interval: d.interval,
          limit: d.unlimited ? ("unlimited" as const) : Number(d.limit),
          popular: d.popular,
          trialDays: Number(d.trialDays) || 0,
        };
        if (item) return ok(api.catalog.PATCH("/v1/projects/{id}/tiers/{itemId}", { params: { path: { id: project.id, itemId: item.id } }, body: { ...tier, updatedAt: item.updatedAt } }));
        return ok(api.catalog.POST("/v1/projects/{id}/tiers", { params: { path: { id: project.id }, header: { "Idempotency-Key": idempotencyKey() } }, body: { ...tier, name: d.name.trim() } }));
      }
      const product = { ...common, inventory: d.inventory.trim() === "" ? null : Number(d.inventory) };
      if (item) return ok(api.catalog.PATCH("/v1/projects/{id}/products/{itemId}", { params: { path: { id: project.id, itemId: item.id } }, body: { ...product, updatedAt: item.updatedAt } }));
      return ok(api.catalog.POST("/v1/projects/{id}/products", { params: { path: { id: project.id }, header: { "Idempotency-Key": idempotencyKey() } }, body: { ...product, name: d.name.trim() } }));
    },
    onSuccess: onDone,
  });

  const noun = saas ? "tier" : "product";
  return (
    <form
      className="item-form"
      aria-label={item ? `Edit ${item.name}` : `New ${noun}`}
      onSubmit={(e) => {
        e.preventDefault();
        setLocalError(null);
        save.mutate();
      }}
    >
      <h3>{item ? `Edit ${item.displayName}` : `New ${noun}`}</h3>
      <div className="grid">
        <label>
          Name (a slug, fixed once created)
          <input name="name" value={d.name} onChange={(e) => set("name", e.target.value)} disabled={!!item} required pattern="[a-z0-9][a-z0-9_-]*" />
        </label>
        <label>
          Display name
          <input name="displayName" value={d.displayName} onChange={(e) => set("displayName", e.target.value)} required />
        </label>
        <label>
          Price
          <input name="price" inputMode="decimal" value={d.price} onChange={(e) => set("price", e.target.value)} required />
        </label>
        <label>
          Currency
          <input name="currency" value={d.currency} onChange={(e) => set("currency", e.target.value)} maxLength={3} required />
        </label>
        {saas && (
          <>
            <label>
              Billing interval
              <select name="interval" value={d.interval} onChange={(e) => set("interval", e.target.value as "month" | "year")}>
                <option value="month">Monthly</option>
                <option value="year">Yearly</option>
              </select>
            </label>
            <label>
              Calls per period
              <input name="limit" type="number" min={0} value={d.limit} onChange={(e) => set("limit", e.target.value)} disabled={d.unlimited} />
            </label>
            <label className="check">
              <input type="checkbox" name="unlimited" checked={d.unlimited} onChange={(e) => set("unlimited", e.target.checked)} /> Unlimited
            </label>
            <label>
              Trial days
              <input name="trialDays" type="number" min={0} max={730} value={d.trialDays} onChange={(e) => set("trialDays", e.target.value)} />
            </label>
            <label className="check">
              <input type="checkbox" name="popular" checked={d.popular} onChange={(e) => set("popular", e.target.checked)} /> Mark as popular
            </label>
          </>
        )}
        {!saas && (
          <label>
            Inventory (blank: unlimited)
            <input name="inventory" type="number" min={0} value={d.inventory} onChange={(e) => set("inventory", e.target.value)} />
          </label>
        )}
        <label className="wide">
          Description
          <input name="description" value={d.description} onChange={(e) => set("description", e.target.value)} />
        </label>
        <label className="wide">
          Features (one per line)
          <textarea name="features" rows={3} value={d.features} onChange={(e) => set("features", e.target.value)} />
        </label>
        {!saas && (
          <label>
            Image (png, jpeg, webp or gif)
            <input type="file" name="image" accept="image/png,image/jpeg,image/webp,image/gif" onChange={(e) => e.target.files?.[0] && upload.mutate({ file: e.target.files[0], visibility: "public" })} />
            {d.imageUrl && <span className="small muted">Image set</span>}
          </label>
        )}
        <label>
          Downloadable file
          <input type="file" name="download" onChange={(e) => e.target.files?.[0] && upload.mutate({ file: e.target.files[0], visibility: "private" })} />
          {d.assetId && (
            <span className="small">
              File <code>{d.assetId}</code>{" "}
              <button type="button" onClick={() => set("assetId", null)}>
                Detach
              </button>
            </span>
          )}
        </label>
      </div>
      {upload.isPending && <p role="status">Uploading…</p>}
      {upload.error && <ErrorNote error={upload.error} />}
      {localError && <p className="error">{localError}</p>}
      {save.error && <ErrorNote error={save.error} onReload={onReload} />}
      <div className="actions">
        <button type="submit" className="primary" disabled={save.isPending || upload.isPending}>
          {save.isPending ? "Saving…" : item ? "Save changes" : `Create ${noun}`}
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function GoLive({ project }: { project: Project }) {
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const list = useCatalog(project);
  const connections = useConnections();
  const [result, setResult] = useState<{ secret: string; id: string; tiers: number; products: number } | null>(null);
  const [shown, setShown] = useState(false);
  const promote = useMutation({
    mutationFn: () => fresh(() => ok(api.catalog.POST("/v1/projects/{id}/promote", { params: { path: { id: project.id }, header: { "Idempotency-Key": idempotencyKey() } }, body: {} }))),
    onSuccess: (res) => {
      setResult({ secret: res.data.secretKey, id: res.data.project.id, tiers: res.data.tiers, products: res.data.products });
      void queryClient.invalidateQueries({ queryKey: keys.projects });
    },
  });
  const live = connections.data?.find((c) => c.mode === "live");
  const items = (list.data ?? []).filter((i) => !i.archivedAt);
  return (
    <section className="panel" aria-labelledby="golive-title">
      <h2 id="golive-title">Go live</h2>
      {result ? (
        <>
          {!shown ? (
            <SecretReveal title="The live project's secret key" secret={result.secret} note="Live keys take real money. Store this one now: it is shown only once." onDone={() => setShown(true)} />
          ) : (
            <p>
              Promoted: {result.tiers} tiers and {result.products} products are on your live Stripe account. <Link to={`/live/projects/${result.id}/dashboard`}>Open the live project</Link>
            </p>
          )}
        </>
      ) : !shown ? (
        <>
          <p>Promotion makes a live twin of this project with its own keys, and copies the catalog to your live Stripe account. Preview:</p>
          <ul className="preview" aria-label="What promotion creates">
            <li>A live project named “{project.name}” with new live keys (shown once).</li>
            <li>
              {items.length} {project.type === "saas" ? "tiers" : "products"}: {items.map((i) => i.displayName).join(", ") || "none"}.
            </li>
            <li>Live Stripe: {live?.status === "connected" ? <>connected (<code>{live.accountId}</code>)</> : <strong>not connected: connect it first</strong>}.</li>
          </ul>
          {live?.status !== "connected" && <StripeConnection mode="live" />}
          <ConfirmButton label="Promote to live" confirmLabel="Promote now" question="This creates the live project and its Stripe products." className="primary" busy={promote.isPending || live?.status !== "connected"} onConfirm={() => promote.mutate()} />
          {promote.error && <ErrorNote error={promote.error} />}
        </>
      ) : null}
    </section>
  );
}
