{
  # The shared-memory addon of the ring transport: plain C, Node-API 8, no node-addon-api.
  # `npm run build:native` (node-gyp rebuild) writes build/Release/fastpath_shm.node.
  "targets": [
    {
      "target_name": "fastpath_shm",
      "sources": ["native/fastpath_shm.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags!": ["-O3"],
      "cflags_c": ["-std=c11", "-O2", "-Wall", "-Wextra", "-pthread"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["OS=='linux'", {"libraries": ["-lrt", "-lm"]}]
      ],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-std=c11", "-O2", "-Wall", "-Wextra"]
      }
    }
  ]
}
