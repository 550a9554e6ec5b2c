/** The client package's version (client/package.json; a unit test keeps the two equal). */
export const CLIENT_VERSION = '0.1.0';
