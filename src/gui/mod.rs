//! gui/: the `bitcoin-gui` process: spawns `bitcoin-node` over a socket pair or
//! attaches to a running node with `-ipcconnect`.
