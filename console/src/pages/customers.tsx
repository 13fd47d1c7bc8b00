//! Customers: waits for the developer-lane customer routes (`/v1/projects/{id}/customers…`)
//! to be in the contract; until then the dashboard's top end users stand in.
import { Link } from "react-router";
import { useCurrentProject } from "./project";

export function CustomersPage() {
  const project = useCurrentProject();
  return (
    <section className="panel" aria-labelledby="customers-title">
      <h2 id="customers-title">Customers</h2>
      <p className="empty">
        The customer table arrives with the developer-lane customer routes. Meanwhile the <Link to={`/${project.mode}/projects/${project.id}/dashboard`}>dashboard</Link> lists the top end users of
        this period.
      </p>
    </section>
  );
}
