//! node/: the sandboxed node worker. Serves `Init` on the connections the broker
//! hands it. Never opens listening sockets or spawns processes itself.
