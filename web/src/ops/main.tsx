import { boot } from "../shared/boot";
import { App } from "./App";

void boot("ops-console", "/ops/", <App />);
