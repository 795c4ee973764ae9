/**
 * The model catalog (catalog.proto): the service ({@link createCatalog}) and its two surfaces,
 * REST (catalog-rest.ts) and Connect (catalog-connect.ts).
 */
export { catalogConnectRoutes } from "./catalog-connect.ts";
export { catalogRestPlugin } from "./catalog-rest.ts";
export { type Catalog, type CatalogOptions, createCatalog } from "./create-catalog.ts";
