#!/usr/bin/env bash
# nginx vs full base peer vs full new peer vs upload_bare (none/drop/print), interleaved.
set -u
W=/tmp/perf2/get/w3; rm -rf $W; mkdir -p $W/files $W/nginx; chmod 755 $W
cp /work/wt-perf2/RFCs/rfc8600.txt $W/files/rfc1.txt
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; [ -f $W/nginx.pid ] && kill $(cat $W/nginx.pid) 2>/dev/null; sleep 0.5; for p in "${PIDS[@]}"; do kill -9 $p 2>/dev/null; done; }
trap cleanup EXIT
cat > $W/nginx/nginx.conf <<CONF
worker_processes auto;
pid $W/nginx.pid;
error_log $W/nginx/error.log;
daemon on;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path $W/nginx; proxy_temp_path $W/nginx; fastcgi_temp_path $W/nginx; uwsgi_temp_path $W/nginx; scgi_temp_path $W/nginx;
  server { listen 127.0.0.1:28090; root $W/files; } }
CONF
/usr/sbin/nginx -c $W/nginx/nginx.conf -p $W/nginx
/tmp/perf2/p2pci-srv server --quiet --bind 127.0.0.1 --port 27754 2>/dev/null & PIDS+=($!)
sleep 0.5
mkfifo $W/a.in $W/b.in; exec 3<>$W/a.in; exec 4<>$W/b.in
/tmp/perf2/p2pci-base peer --headless --host a --bind 127.0.0.1 --port 27755 --dir $W/files --server 127.0.0.1:27754 <$W/a.in >/dev/null 2>$W/a.log & PIDS+=($!)
/tmp/perf2/p2pci-srv peer --headless --host b --bind 127.0.0.1 --port 27756 --dir $W/files --server 127.0.0.1:27754 <$W/b.in >/dev/null 2>$W/b.log & PIDS+=($!)
for m in none:27757 drop:27758 print:27759; do
  /tmp/perf2/upload_bare --dir $W/files --port ${m#*:} --secs 400 --events ${m%%:*} >/dev/null 2>>$W/bare.log & PIDS+=($!)
done
sleep 1
LG="timeout 20 /tmp/perf2/loadgen --json --duration ${DUR:-3} --warmup 1 --scenario get --conns 16"
for rep in $(seq 1 ${REP:-3}); do
  $LG --label "rep=$rep;nginx" --proto http --target 127.0.0.1:28090 --path /rfc1.txt
  $LG --label "rep=$rep;base" --proto p2pci --target 127.0.0.1:27755 --rfc 1
  $LG --label "rep=$rep;new" --proto p2pci --target 127.0.0.1:27756 --rfc 1
  $LG --label "rep=$rep;bare-none" --proto p2pci --target 127.0.0.1:27757 --rfc 1
  $LG --label "rep=$rep;bare-drop" --proto p2pci --target 127.0.0.1:27758 --rfc 1
  $LG --label "rep=$rep;bare-print" --proto p2pci --target 127.0.0.1:27759 --rfc 1
done
