const fs = require('fs'), zlib = require('zlib');
const { decodePprof } = require('/work/main/dist/profile/pprof');
const raw = zlib.gunzipSync(fs.readFileSync('/work/shared/corpus/pprof/java-kafka-cpu.pb.gz'));
for (let i = 0; i < 6000; i++) decodePprof(raw);
