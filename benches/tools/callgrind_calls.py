"""callgrind_calls.py FILE NAME: how many times the function NAME was called, summed over
every caller in a callgrind output file (e.g. `malloc`: heap allocations)."""
import re
import sys

path, want = sys.argv[1], sys.argv[2]
names = {}
total = 0
cur_cfn = None
for line in open(path, errors='replace'):
    if line.startswith(('cfn=', 'cfi=', 'cob=')) and not line.startswith('cfn='):
        continue
    if line.startswith('cfn='):
        m = re.match(r'cfn=\((\d+)\)(?: (.*))?', line.rstrip('\n'))
        if m:
            i, name = m.group(1), m.group(2)
            if name is not None:
                names[i] = name
            cur_cfn = names.get(i)
        else:
            cur_cfn = line[4:].strip()
        continue
    if line.startswith('calls='):
        if cur_cfn == want:
            total += int(line[6:].split()[0])
        continue
    if line.startswith('fn='):
        m = re.match(r'fn=\((\d+)\)(?: (.*))?', line.rstrip('\n'))
        if m and m.group(2) is not None:
            names[m.group(1)] = m.group(2)
print(total)
