import { BrowserRouter, NavLink, Route, Routes } from "react-router-dom";
import { useSession } from "../shared/boot";
import { capabilities } from "../shared/roles";
import { Overview } from "./Overview";
import { SupplierDetail, Suppliers } from "./Suppliers";
import { Inventory } from "./Inventory";
import { OrderDetail, OrdersBoard } from "./Orders";
import { Sagas } from "./Sagas";

function Header() {
  const { session, claims } = useSession();
  const can = capabilities(claims);
  return (
    <header className="top">
      <a className="skip" href="#content">
        Skip to content
      </a>
      <NavLink to="/" className="brand">
        Freshline operations
      </NavLink>
      {can.read && (
        <nav aria-label="Console">
          <ul>
            <li>
              <NavLink to="/" end>
                Overview
              </NavLink>
            </li>
            <li>
              <NavLink to="/suppliers">Suppliers</NavLink>
            </li>
            <li>
              <NavLink to="/inventory">Inventory</NavLink>
            </li>
            <li>
              <NavLink to="/orders">Orders</NavLink>
            </li>
            <li>
              <NavLink to="/sagas">Sagas and dead events</NavLink>
            </li>
          </ul>
        </nav>
      )}
      <div className="who">
        {claims ? (
          <>
            <span>
              {claims.preferred_username ?? claims.sub} ({claims.role}
              {!can.reviewSuppliers && !can.operate ? ", read-only" : ""})
            </span>
            <button className="secondary" onClick={() => void session.logout()}>
              Log out
            </button>
          </>
        ) : (
          <button className="secondary" onClick={() => void session.login()}>
            Log in
          </button>
        )}
      </div>
    </header>
  );
}

function Gate({ children }: { children: React.ReactNode }) {
  const { claims, session } = useSession();
  if (!claims)
    return (
      <section className="panel">
        <h1>Operations console</h1>
        <p>For Freshline staff: administrators and auditors. Administrators log in with a one-time code.</p>
        <button onClick={() => void session.login()}>Log in</button>
      </section>
    );
  if (!capabilities(claims).read)
    return (
      <section className="panel">
        <h1>Not for this account</h1>
        <p>The console is for administrators and auditors.</p>
      </section>
    );
  return <>{children}</>;
}

export function App() {
  return (
    <BrowserRouter basename="/ops">
      <Header />
      <main id="content">
        <Gate>
          <Routes>
            <Route path="/" element={<Overview />} />
            <Route path="/callback" element={<Overview />} />
            <Route path="/suppliers" element={<Suppliers />} />
            <Route path="/suppliers/:id" element={<SupplierDetail />} />
            <Route path="/inventory" element={<Inventory />} />
            <Route path="/orders" element={<OrdersBoard />} />
            <Route path="/orders/:id" element={<OrderDetail />} />
            <Route path="/sagas" element={<Sagas />} />
          </Routes>
        </Gate>
      </main>
    </BrowserRouter>
  );
}
