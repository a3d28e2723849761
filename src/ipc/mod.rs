//! ipc/: Cap'n Proto connections between processes: spawning children with
//! `-ipcfd`, `-ipcbind`/`-ipcconnect` addresses, `Init`/`Echo` servers, decoding
//! limits and `-debug=ipc` logging. Never decides sandbox or broker policy.
