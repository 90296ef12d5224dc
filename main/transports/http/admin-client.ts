/** The HTTP MeshApi client lives in the contract (it needs only `fetch`), so the renderer can use it too. */
export { createHttpMeshApi, type HttpMeshApiOptions } from '../../contract/http-client.js';
