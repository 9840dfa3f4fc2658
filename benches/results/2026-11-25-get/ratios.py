import json,sys,statistics as st
from collections import defaultdict
rows=[json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
by=defaultdict(dict)
for r in rows:
    rep,who=r['label'].split(';'); by[rep][who]=r['ops_s']
res=defaultdict(list)
for rep,d in by.items():
    for who,v in d.items():
        if who!='nginx' and 'nginx' in d: res[who].append(v/d['nginx'])
for who,rs in res.items():
    print(f"{who:12s} ratio vs nginx min/med/max {min(rs):.2f} / {st.median(rs):.2f} / {max(rs):.2f}   ops/s median {st.median([by[k][who] for k in by]):.0f}")
print("nginx ops/s median", st.median([by[k]['nginx'] for k in by]))
