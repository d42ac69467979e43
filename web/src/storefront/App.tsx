import { BrowserRouter, Link, NavLink, Route, Routes } from "react-router-dom";
import { useSession } from "../shared/boot";
import { Shop } from "./Shop";
import { ProductPage } from "./Product";
import { CartPage } from "./Cart";
import { Checkout } from "./Checkout";
import { OrderPage, OrdersPage } from "./Orders";
import { Account } from "./Account";

function Header() {
  const { session, claims } = useSession();
  return (
    <header className="top">
      <a className="skip" href="#content">
        Skip to content
      </a>
      <Link to="/" className="brand">
        Freshline
      </Link>
      <nav aria-label="Main">
        <ul>
          <li>
            <NavLink to="/">Shop</NavLink>
          </li>
          <li>
            <NavLink to="/cart">Cart</NavLink>
          </li>
          {claims && (
            <>
              <li>
                <NavLink to="/orders">Orders</NavLink>
              </li>
              <li>
                <NavLink to="/account">Account</NavLink>
              </li>
            </>
          )}
        </ul>
      </nav>
      <div className="who">
        {claims ? (
          <>
            <span>{claims.preferred_username ?? claims.name ?? "Signed in"}</span>
            <button className="secondary" onClick={() => void session.logout()}>
              Log out
            </button>
          </>
        ) : (
          <>
            <button className="secondary" onClick={() => void session.login()}>
              Log in
            </button>
            <button className="secondary" onClick={() => void session.signUp()}>
              Sign up
            </button>
          </>
        )}
      </div>
    </header>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <Header />
      <main id="content">
        <Routes>
          <Route path="/" element={<Shop />} />
          <Route path="/callback" element={<Shop />} />
          <Route path="/products/:id" element={<ProductPage />} />
          <Route path="/cart" element={<CartPage />} />
          <Route path="/checkout" element={<Checkout />} />
          <Route path="/orders" element={<OrdersPage />} />
          <Route path="/orders/:id" element={<OrderPage />} />
          <Route path="/account" element={<Account />} />
          <Route path="*" element={<p>Nothing here. <Link to="/">Back to the shop</Link></p>} />
        </Routes>
      </main>
    </BrowserRouter>
  );
}

/** Asks a visitor to log in before a page that needs an account. */
export function NeedsLogin({ what }: { what: string }) {
  const { session } = useSession();
  return (
    <section className="panel">
      <h1>Log in to see {what}</h1>
      <div className="row">
        <button onClick={() => void session.login()}>Log in</button>
        <button className="secondary" onClick={() => void session.signUp()}>
          Create an account
        </button>
      </div>
    </section>
  );
}
