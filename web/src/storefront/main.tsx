import { boot } from "../shared/boot";
import { App } from "./App";

void boot("storefront", "/", <App />);
