from multus_dp.cli import main

raise SystemExit(main())
