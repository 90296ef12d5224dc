/** localmesh's version (HAR creator, OTLP resource, `localmesh --version`); kept equal to package.json by a test. */
export const LOCALMESH_VERSION = '0.1.0';
